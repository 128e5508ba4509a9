package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// imageKey is an image name without its tag or digest: "localhost/x:1.0" -> "localhost/x".
// A registry port ("host:5000/x") is not a tag.
func imageKey(image string) string {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndexByte(image, ':'); i > strings.LastIndexByte(image, '/') {
		image = image[:i]
	}
	return image
}

// imageDirs are the directories a container's commands come from.
func (c *config) imageDirs(image string) ([]string, error) {
	if dirs, ok := c.images[imageKey(image)]; ok {
		return dirs, nil
	}
	return nil, fmt.Errorf("image %q is not mapped to directories on this node (--image IMAGE=DIR)", image)
}

// argv computes what a container runs with Kubernetes' rules: command replaces the image's
// ENTRYPOINT and args its CMD; $(VAR) in both expand from env. img is the image's config
// (buildah runtime), nil for a mapped image, whose ENTRYPOINT is --image-entrypoint's and
// which has no CMD.
func (c *config) argv(ctr *corev1.Container, vars map[string]string, img *imageConfig) ([]string, error) {
	var argv []string
	switch ep, ok := c.entrypoints[imageKey(ctr.Image)]; {
	case len(ctr.Command) > 0:
		argv = append(argv, ctr.Command...)
	case img != nil:
		argv = append(argv, img.Entrypoint...)
		if len(ctr.Args) == 0 {
			argv = append(argv, img.Cmd...)
		}
	case ok:
		argv = append(argv, ep)
	default:
		return nil, fmt.Errorf("container %s sets no command and image %q has no --image-entrypoint", ctr.Name, ctr.Image)
	}
	argv = append(argv, ctr.Args...)
	if len(argv) == 0 {
		return nil, fmt.Errorf("container %s sets no command and image %q has no ENTRYPOINT or CMD", ctr.Name, ctr.Image)
	}
	lookup := mapLookup(vars)
	for i := range argv {
		argv[i] = expand(argv[i], lookup)
	}
	return argv, nil
}

// resolve finds an executable of the image: a command is looked up by its base name in the
// image's directories (an image's /usr/local/bin/x is the mapped directory's x).
func resolve(name string, dirs []string, image string) (string, error) {
	base := filepath.Base(name)
	for _, d := range dirs {
		p := filepath.Join(d, base)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("executable %q not found in image %s (looked in %s)", name, image, strings.Join(dirs, ":"))
}

package main

// --runtime buildah: a container whose image is not mapped with --image runs as the image
// itself. The agent makes a working container (`buildah from`) and its init (init.go) runs
// `buildah run --isolation chroot` in it instead of a host binary: still in the init's mount,
// UTS and PID namespaces, so stopping and killing work as for a process container. chroot
// isolation shares the host network (pods bind their 127.x address) and signals nothing:
// init passes signals to the program itself, the child of buildah-chroot-exec.

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// imageConfig is what the agent uses of an image's OCI config.
type imageConfig struct {
	Entrypoint, Cmd, Env []string
	WorkingDir, User     string
	Volumes              map[string]struct{}
}

// inspectImage reads a local image's config; an error means the image is not there.
func inspectImage(image string) (*imageConfig, error) {
	out, err := exec.Command("buildah", "inspect", "--type", "image", image).Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok {
			msg = strings.TrimSpace(string(ee.Stderr))
		}
		return nil, fmt.Errorf("image %q is neither mapped with --image nor a local image (buildah inspect: %s)", image, msg)
	}
	var doc struct {
		OCIv1 struct {
			Config imageConfig `json:"config"`
		}
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("buildah inspect %s: %v", image, err)
	}
	return &doc.OCIv1.Config, nil
}

// path is the image's PATH, for the container's env as a runtime sets it.
func (ic *imageConfig) path() string {
	for _, e := range ic.Env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			return v
		}
	}
	return "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
}

// newWorkingContainer makes the working container name from image; one left by an agent
// that died is removed first. The image's VOLUMEs are dropped from it: buildah 1.28 mounts an
// anonymous volume over a path the pod mounts a volume at when `buildah run` gets more than
// one -v. Without them those paths are the working container's own files, which live as
// long as it does, like the anonymous volumes a runtime would make.
func newWorkingContainer(name, image string, img *imageConfig) error {
	exec.Command("buildah", "rm", name).Run()
	out, err := exec.Command("buildah", "from", "--pull=never", "--name", name, image).CombinedOutput()
	if err != nil {
		return fmt.Errorf("buildah from %s: %s", image, strings.TrimSpace(string(out)))
	}
	for v := range img.Volumes {
		if out, err := exec.Command("buildah", "config", "--volume", v+"-", name).CombinedOutput(); err != nil {
			removeWorkingContainer(name)
			return fmt.Errorf("buildah config --volume %s-: %s", v, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

func removeWorkingContainer(name string) {
	exec.Command("buildah", "rm", name).Run()
}

// buildahRun is the `buildah run` command line that runs argv in the working container with
// the container's env, working directory, user, volumes and the pod's hosts file.
func buildahRun(ctr string, argv, env []string, dir, user, hostname, hosts string, mounts []mountSpec) []string {
	args := []string{"buildah", "run", "--isolation", "chroot", "--hostname", hostname, "--no-hosts",
		"-v", hosts + ":/etc/hosts"}
	if dir != "" {
		args = append(args, "--workingdir", dir)
	}
	if user != "" {
		args = append(args, "--user", user)
	}
	for _, m := range mounts {
		opt := ""
		if m.ReadOnly {
			opt = ":ro"
		}
		args = append(args, "-v", m.Source+":"+m.Target+opt)
	}
	for _, e := range env {
		args = append(args, "-e", e)
	}
	return append(append(args, ctr, "--"), argv...)
}

// runAsUser is the --user a pod's securityContext asks for ("" = the image's USER), the
// container's own settings first, as in Kubernetes.
func runAsUser(p *corev1.Pod, c *corev1.Container) string {
	var uid, gid *int64
	if s := p.Spec.SecurityContext; s != nil {
		uid, gid = s.RunAsUser, s.RunAsGroup
	}
	if s := c.SecurityContext; s != nil {
		uid, gid = cmpOr(s.RunAsUser, uid), cmpOr(s.RunAsGroup, gid)
	}
	if uid == nil {
		return ""
	}
	if gid == nil {
		return strconv.FormatInt(*uid, 10)
	}
	return fmt.Sprintf("%d:%d", *uid, *gid)
}

func cmpOr(a, b *int64) *int64 {
	if a != nil {
		return a
	}
	return b
}

// applyFSGroup gives the pod's fsGroup the container's emptyDir and claim volumes, as the
// kubelet does: group fsGroup, group-writable, set-group-ID directories. Without it a
// non-root user could not write a directory the agent made as root.
func applyFSGroup(p *corev1.Pod, c *corev1.Container, vols map[string]volume) error {
	s := p.Spec.SecurityContext
	if s == nil || s.FSGroup == nil {
		return nil
	}
	gid := int(*s.FSGroup)
	for _, m := range c.VolumeMounts {
		v := vols[m.Name]
		if !v.fsGroup || v.readOnly {
			continue
		}
		err := filepath.WalkDir(v.dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if err := os.Lchown(path, -1, gid); err != nil || d.Type()&fs.ModeSymlink != 0 {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			mode := fi.Mode().Perm() | 0o060
			if d.IsDir() {
				mode |= 0o010 | os.ModeSetgid
			}
			return os.Chmod(path, mode)
		})
		if err != nil {
			return fmt.Errorf("fsGroup on volume %s: %v", m.Name, err)
		}
	}
	return nil
}

// innermost is the program a `buildah run` (pid) started: the child of buildah-chroot-exec
// among pid's descendants; 0 while it is not there yet.
func innermost(pid int) int {
	todo := []int{pid}
	for len(todo) > 0 {
		p := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		kids := children(p)
		if len(kids) > 0 && isChrootExec(p) {
			return kids[0]
		}
		todo = append(todo, kids...)
	}
	return 0
}

func children(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, t := range tasks {
		raw, _ := os.ReadFile(t)
		for _, f := range strings.Fields(string(raw)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

func isChrootExec(pid int) bool {
	raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	arg0, _, _ := strings.Cut(string(raw), "\x00")
	return filepath.Base(arg0) == "buildah-chroot-exec"
}

// ids are the real uid and gid of pid, for exec probes to run as the program does.
func ids(pid int) (uid, gid string, err error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "", "", err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "Uid:" {
			uid = f[1]
		} else if len(f) >= 2 && f[0] == "Gid:" {
			gid = f[1]
		}
	}
	return uid, gid, nil
}

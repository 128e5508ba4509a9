package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestImageKey(t *testing.T) {
	for in, want := range map[string]string{
		"localhost/tributary-broker:0.1.0": "localhost/tributary-broker",
		"localhost/busybox-ish":            "localhost/busybox-ish",
		"registry:5000/x":                  "registry:5000/x",
		"registry:5000/x:1@sha256:abc":     "registry:5000/x",
	} {
		if got := imageKey(in); got != want {
			t.Errorf("imageKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestArgvAndResolve(t *testing.T) {
	cfg, err := parseFlags([]string{"--kubeconfig", "k", "--node", "n", "--state-dir", "s",
		"--image", "localhost/b=/nope:" + t.TempDir(), "--image-entrypoint", "localhost/b:1=/usr/local/bin/broker"})
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := cfg.imageDirs("localhost/b:0.1.0")
	if err != nil || len(dirs) != 2 {
		t.Fatalf("dirs %v %v", dirs, err)
	}
	if _, err := cfg.imageDirs("localhost/other"); err == nil || !strings.Contains(err.Error(), "not mapped") {
		t.Fatalf("unmapped image: %v", err)
	}
	c := &corev1.Container{Name: "c", Image: "localhost/b", Args: []string{"--id=$(ID)"}}
	argv, err := cfg.argv(c, map[string]string{"ID": "7"}, nil)
	if err != nil || !slices.Equal(argv, []string{"/usr/local/bin/broker", "--id=7"}) {
		t.Fatalf("entrypoint + args: %v %v", argv, err)
	}
	c.Command = []string{"sh", "-c"}
	if argv, _ := cfg.argv(c, nil, nil); !slices.Equal(argv, []string{"sh", "-c", "--id=$(ID)"}) {
		t.Fatalf("command + args: %v", argv)
	}
	c.Image, c.Command = "localhost/none", nil
	if _, err := cfg.argv(c, nil, nil); err == nil {
		t.Fatal("no command and no entrypoint must be an error")
	}
	exe := filepath.Join(dirs[1], "broker")
	os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(dirs[1], "data"), nil, 0o644)
	if p, err := resolve("/usr/local/bin/broker", dirs, "localhost/b"); err != nil || p != exe {
		t.Fatalf("resolve: %v %v", p, err)
	}
	if _, err := resolve("data", dirs, "localhost/b"); err == nil {
		t.Fatal("a file that isn't executable is not a command")
	}
}

func TestParseFlagsRejectsBadInput(t *testing.T) {
	base := []string{"--kubeconfig", "k", "--node", "n", "--state-dir", "s"}
	for _, extra := range [][]string{
		{"--image", "noequals"}, {"--image", "=dir"}, {"--image-entrypoint", "x="},
		{"--runtime", "docker"}, {"--cpu", "lots"}, {"--max-backoff", "1ms"}, {"stray"},
	} {
		if _, err := parseFlags(append(slices.Clone(base), extra...)); err == nil {
			t.Errorf("parseFlags accepted %v", extra)
		}
	}
	if _, err := parseFlags([]string{"--node", "n"}); err == nil {
		t.Error("missing --kubeconfig and --state-dir must be an error")
	}
}

func TestArgvFromImageConfig(t *testing.T) {
	cfg := &config{entrypoints: map[string]string{}}
	img := &imageConfig{Entrypoint: []string{"/init"}, Cmd: []string{"serve", "--all"}}
	for _, tc := range []struct {
		command, args, want []string
	}{
		{nil, nil, []string{"/init", "serve", "--all"}},        // ENTRYPOINT + CMD
		{nil, []string{"x"}, []string{"/init", "x"}},           // args replace CMD
		{[]string{"sh"}, []string{"-c"}, []string{"sh", "-c"}}, // command replaces both
	} {
		c := &corev1.Container{Name: "c", Image: "localhost/i", Command: tc.command, Args: tc.args}
		if got, err := cfg.argv(c, nil, img); err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("argv(%v, %v) = %v, %v; want %v", tc.command, tc.args, got, err, tc.want)
		}
	}
	if _, err := cfg.argv(&corev1.Container{Name: "c", Image: "localhost/i"}, nil, &imageConfig{}); err == nil {
		t.Error("an image with neither ENTRYPOINT nor CMD and no command must be an error")
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

// initCommand is the hidden first argument with which the agent re-runs itself as a
// container's init process. The agent starts it in new mount, UTS and PID namespaces; it
// sets up the container's view of the file system there, starts the container's command as
// its child, passes signals on to it and exits with its status. Being PID 1 of the namespace,
// its death takes every process of the container with it, and it dies with the agent
// (Pdeathsig), so no container process outlives the agent.
const initCommand = "__container-init"

type mountSpec struct {
	Source, Target string
	ReadOnly       bool
}

type initSpec struct {
	Path     string // resolved executable
	Args     []string
	Env      []string
	Dir      string
	Hostname string
	Hosts    string // file bound over /etc/hosts
	Mounts   []mountSpec
	Buildah  bool // Path is `buildah run`: signals go to the program it started (buildah.go)
}

// statusFD is where init reports a setup error; the agent reads it until EOF (closed on exec).
const statusFD = 3

func containerInit(args []string) {
	status := os.NewFile(statusFD, "status")
	syscall.CloseOnExec(statusFD)
	fail := func(format string, a ...any) {
		fmt.Fprintf(status, format, a...)
		os.Exit(128)
	}
	if len(args) != 1 {
		fail("usage: %s SPEC.json", initCommand)
	}
	raw, err := os.ReadFile(args[0])
	if err != nil {
		fail("read spec: %v", err)
	}
	var s initSpec
	if err := json.Unmarshal(raw, &s); err != nil {
		fail("parse spec: %v", err)
	}
	if err := setupMounts(&s); err != nil {
		fail("%v", err)
	}
	if err := syscall.Sethostname([]byte(s.Hostname)); err != nil {
		fail("sethostname: %v", err)
	}
	signals := make(chan os.Signal, 8)
	forwarded := []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}
	signal.Notify(signals, forwarded...)
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		fail("%v", err)
	}
	pid, err := syscall.ForkExec(s.Path, s.Args, &syscall.ProcAttr{Dir: s.Dir, Env: s.Env,
		Files: []uintptr{devnull.Fd(), os.Stdout.Fd(), os.Stderr.Fd()}})
	if err != nil {
		fail("start %s: %v", s.Path, err)
	}
	status.Close()
	go func() {
		for sig := range signals {
			target := pid
			if s.Buildah { // buildah run passes no signal on; until the program runs it gets them
				if p := innermost(pid); p > 0 {
					target = p
				}
			}
			syscall.Kill(target, sig.(syscall.Signal))
		}
	}()
	for { // reap every child (orphans in the namespace end up here) until the command exits
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(-1, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			os.Exit(128)
		}
		if got != pid {
			continue
		}
		if ws.Signaled() {
			os.Exit(128 + int(ws.Signal()))
		}
		os.Exit(ws.ExitStatus())
	}
}

// setupMounts makes mounts private to this namespace, mounts /proc for the new PID namespace,
// then binds each volume and the pod's hosts file.
func setupMounts(s *initSpec) error {
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %v", err)
	}
	if err := syscall.Mount("proc", "/proc", "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %v", err)
	}
	mounts := s.Mounts
	if s.Hosts != "" { // buildah: buildah run binds volumes and hosts into the image's root
		mounts = append(mounts, mountSpec{Source: s.Hosts, Target: "/etc/hosts", ReadOnly: false})
	}
	for _, m := range mounts {
		if err := bindMount(m); err != nil {
			return fmt.Errorf("mount %s at %s: %v", m.Source, m.Target, err)
		}
	}
	return nil
}

func bindMount(m mountSpec) error {
	fi, err := os.Stat(m.Source)
	if err != nil {
		return err
	}
	// The mount point must exist; making it changes the host's file system (an empty
	// directory or file), which is the one trace a pod leaves outside --state-dir.
	if fi.IsDir() {
		if err := os.MkdirAll(m.Target, 0o755); err != nil {
			return err
		}
	} else if _, err := os.Stat(m.Target); os.IsNotExist(err) {
		if err := os.MkdirAll(filepath.Dir(m.Target), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(m.Target, os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		f.Close()
	}
	if err := syscall.Mount(m.Source, m.Target, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return err
	}
	if m.ReadOnly {
		return syscall.Mount("", m.Target, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, "")
	}
	return nil
}

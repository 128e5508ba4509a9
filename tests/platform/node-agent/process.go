package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// process is one running container: the init process (see init.go) and the command under it.
type process struct {
	cmd      *exec.Cmd
	started  time.Time
	done     chan struct{} // closed when it has exited
	exitCode int
	buildah  bool // the init runs `buildah run`; exec probes enter the program's chroot
}

// startProcess writes the spec next to the log and starts the init process in new mount,
// UTS and PID namespaces. An error here is one the container's status should show.
func (a *agent) startProcess(spec initSpec, specPath, logPath string) (*process, error) {
	raw, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(specPath, raw, 0o600); err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer statusR.Close()
	cmd := exec.Command(a.self, initCommand, specPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.ExtraFiles = []*os.File{statusW} // fd 3 = statusFD
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS | syscall.CLONE_NEWPID,
		Pdeathsig:  syscall.SIGKILL, // the container dies with the agent, even if the agent is killed
	}
	err = cmd.Start()
	statusW.Close()
	if err != nil {
		return nil, err
	}
	msg, _ := io.ReadAll(statusR) // EOF once the command is exec'd or init has failed
	p := &process{cmd: cmd, started: time.Now(), done: make(chan struct{}), buildah: spec.Buildah}
	go func() {
		cmd.Wait()
		p.exitCode = exitCode(cmd.ProcessState)
		close(p.done)
	}()
	if len(msg) > 0 {
		<-p.done
		return nil, errors.New(strings.TrimSpace(string(msg)))
	}
	return p, nil
}

// exitCode reports a death by signal as 128+signal, as container runtimes do (137 = SIGKILL).
func exitCode(s *os.ProcessState) int {
	if ws, ok := s.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return s.ExitCode()
}

// stop sends SIGTERM (init passes it to the command), waits up to grace, then SIGKILLs init,
// which ends every process in the container's PID namespace.
func (p *process) stop(grace time.Duration) {
	if grace > 0 {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
			return
		case <-time.After(grace):
		}
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// enterCommand runs argv inside the container's namespaces (exec probes); for buildah, also
// in the program's root and working directory and as its user (path is then looked up there).
func (p *process) enterCommand(path string, argv []string) (*exec.Cmd, error) {
	args := []string{"--target", fmt.Sprint(p.pid()), "--mount", "--uts", "--pid"}
	if p.buildah {
		prog := innermost(p.pid())
		if prog == 0 {
			return nil, fmt.Errorf("the container's program is not running yet")
		}
		uid, gid, err := ids(prog)
		if err != nil {
			return nil, err
		}
		args = []string{"--target", fmt.Sprint(prog), "--mount", "--uts", "--pid", "--root", "--wd", "--setuid", uid, "--setgid", gid}
	}
	return exec.Command("nsenter", append(append(args, "--", path), argv[1:]...)...), nil
}

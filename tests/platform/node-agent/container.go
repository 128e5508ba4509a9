package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

const backoffBase = 10 * time.Second // the kubelet's first restart delay

// ctrState is one container of a pod; the pod worker's mutex guards it.
type ctrState struct {
	spec   corev1.Container
	init   bool
	status corev1.ContainerStatus
	final  bool // terminated and will not be restarted
	runs   int  // processes started so far, for the container ID
}

func newCtrState(c corev1.Container, init bool) *ctrState {
	return &ctrState{spec: c, init: init, status: corev1.ContainerStatus{Name: c.Name, Image: c.Image,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}
}

// runResult is how one run of a container ended. startErr set: it never started, and reason
// says why as the kubelet would (these are retried whatever the restart policy).
type runResult struct {
	exitCode int
	ranFor   time.Duration
	startErr error
	reason   string
}

// runContainer runs a container, restarting it per the pod's restart policy with back-off,
// until it won't restart or ctx ends. It returns whether its last run succeeded (exit 0).
func (w *podWorker) runContainer(ctx context.Context, cs *ctrState, vols map[string]volume) bool {
	var backoff time.Duration
	for {
		res := w.runOnce(ctx, cs, vols)
		if ctx.Err() != nil {
			return false
		}
		waiting := corev1.ContainerStateWaiting{Reason: res.reason}
		if res.startErr != nil {
			waiting.Message = res.startErr.Error()
			w.logf("container %s: %s: %v", cs.spec.Name, res.reason, res.startErr)
		} else {
			if !w.restarts(cs, res.exitCode) {
				w.mu.Lock()
				cs.final = true
				w.mu.Unlock()
				w.dirty()
				return res.exitCode == 0
			}
			waiting.Reason = "CrashLoopBackOff"
		}
		if res.ranFor > 10*time.Minute { // ran long enough: start the back-off over, as the kubelet does
			backoff = 0
		}
		backoff = min(max(2*backoff, backoffBase), w.a.cfg.maxBackoff)
		if res.startErr == nil {
			waiting.Message = fmt.Sprintf("back-off %s restarting failed container %s", backoff, cs.spec.Name)
		}
		w.mu.Lock()
		if res.startErr != nil || cs.status.State.Terminated == nil {
			cs.status.State = corev1.ContainerState{Waiting: &waiting}
		} else {
			cs.status.LastTerminationState = cs.status.State
			cs.status.State = corev1.ContainerState{Waiting: &waiting}
		}
		w.mu.Unlock()
		w.dirty()
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
	}
}

// restarts applies the restart policy; a failed init container is retried unless it is Never.
func (w *podWorker) restarts(cs *ctrState, exitCode int) bool {
	switch w.current().Spec.RestartPolicy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return exitCode != 0
	}
	return !cs.init || exitCode != 0
}

// runOnce starts the container's process and waits until it exits, a liveness or startup
// probe fails (the container is stopped), or ctx ends (it is stopped with the pod's grace).
func (w *podWorker) runOnce(ctx context.Context, cs *ctrState, vols map[string]volume) runResult {
	c := &cs.spec
	w.mu.Lock()
	p, facts := w.pod, w.facts()
	w.mu.Unlock()
	dirs, err := w.a.cfg.imageDirs(c.Image)
	var img *imageConfig // set: the image itself runs through buildah (buildah.go)
	if err != nil && w.a.cfg.runtime == "buildah" {
		img, err = inspectImage(c.Image)
	}
	if err != nil {
		return runResult{startErr: err, reason: "ErrImagePull"}
	}
	path := strings.Join(dirs, ":")
	if img != nil {
		path = img.path()
	}
	api := w.a.apiServer
	port := api.Port()
	if port == "" {
		port = "443"
	}
	base := [][2]string{{"PATH", path}, {"HOSTNAME", podHostname(p)},
		{"KUBERNETES_SERVICE_HOST", api.Hostname()}, {"KUBERNETES_SERVICE_PORT", port}, {"KUBERNETES_SERVICE_PORT_HTTPS", port}}
	env, vars, err := buildEnv(p, c, facts, w.a, base)
	if err != nil {
		return runResult{startErr: err, reason: "CreateContainerConfigError"}
	}
	mounts, err := containerMounts(c, vols)
	if err != nil {
		return runResult{startErr: err, reason: "CreateContainerConfigError"}
	}
	argv, err := w.a.cfg.argv(c, vars, img)
	if err != nil {
		return runResult{startErr: err, reason: "CreateContainerError"}
	}
	var spec initSpec
	if img != nil {
		name := fmt.Sprintf("trib-%s-%s", w.uid, c.Name)
		if spec, err = w.buildahSpec(name, img, p, c, argv, env, mounts, vols); err != nil {
			return runResult{startErr: err, reason: "CreateContainerError"}
		}
		defer removeWorkingContainer(name)
	} else {
		exe, err := resolve(argv[0], dirs, c.Image)
		if err != nil {
			return runResult{startErr: err, reason: "RunContainerError"}
		}
		dir := c.WorkingDir
		if dir == "" {
			dir = "/"
		}
		spec = initSpec{Path: exe, Args: argv, Env: env, Dir: dir, Hostname: podHostname(p),
			Hosts: filepath.Join(w.dir, "hosts"), Mounts: mounts}
	}
	logPath := filepath.Join(w.dir, c.Name+".log")
	var logStart int64 // where this run's output starts in the log the runs share
	if st, err := os.Stat(logPath); err == nil {
		logStart = st.Size()
	}
	proc, err := w.a.startProcess(spec, filepath.Join(w.dir, c.Name+".spec.json"), logPath)
	if err != nil {
		return runResult{startErr: err, reason: "RunContainerError"}
	}
	started := metav1.NewTime(proc.started)
	w.mu.Lock()
	if cs.runs > 0 {
		cs.status.RestartCount++
	}
	cs.runs++
	cs.status.ContainerID = fmt.Sprintf("tributary://%s-%s-%d", w.uid, c.Name, cs.runs)
	cs.status.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}
	cs.status.Started = ptr.To(c.StartupProbe == nil)
	cs.status.Ready = c.ReadinessProbe == nil && c.StartupProbe == nil && !cs.init
	w.mu.Unlock()
	w.dirty()

	probeCtx, stopProbes := context.WithCancel(ctx)
	kill := make(chan string, 3)
	if !cs.init {
		go w.probe(probeCtx, cs, proc, env, dirs, kill)
	}
	cause := ""
	select {
	case <-proc.done:
	case <-ctx.Done():
		w.mu.Lock()
		grace := w.stopGrace
		w.mu.Unlock()
		proc.stop(grace)
	case cause = <-kill:
		w.logf("container %s: %s, restarting it", c.Name, cause)
		proc.stop(w.probeGrace(c))
	}
	stopProbes()
	finished := metav1.Now()
	reason := "Completed"
	if proc.exitCode != 0 {
		reason = "Error"
		if cause == "" && c.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError {
			cause = logTail(logPath, logStart)
		}
	}
	w.mu.Lock()
	cs.status.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: int32(proc.exitCode),
		Reason: reason, Message: cause, StartedAt: started, FinishedAt: finished, ContainerID: cs.status.ContainerID}}
	cs.status.Ready, cs.status.Started = false, ptr.To(false)
	w.mu.Unlock()
	w.dirty()
	return runResult{exitCode: proc.exitCode, ranFor: time.Since(proc.started)}
}

// probeGrace is the grace period for a container a probe failed: the probe's own, else the pod's.
func (w *podWorker) probeGrace(c *corev1.Container) time.Duration {
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.StartupProbe} {
		if p != nil && p.TerminationGracePeriodSeconds != nil {
			return time.Duration(*p.TerminationGracePeriodSeconds) * time.Second
		}
	}
	if s := w.current().Spec.TerminationGracePeriodSeconds; s != nil {
		return time.Duration(*s) * time.Second
	}
	return 30 * time.Second
}

// buildahSpec makes the container's working container and the init spec that runs argv in
// it with `buildah run`; the working directory and user are the image's unless the pod
// sets them. The caller removes the working container.
func (w *podWorker) buildahSpec(name string, img *imageConfig, p *corev1.Pod, c *corev1.Container, argv, env []string,
	mounts []mountSpec, vols map[string]volume) (initSpec, error) {
	self, err := exec.LookPath("buildah")
	if err != nil {
		return initSpec{}, err
	}
	if err := applyFSGroup(p, c, vols); err != nil {
		return initSpec{}, err
	}
	if err := newWorkingContainer(name, c.Image, img); err != nil {
		return initSpec{}, err
	}
	args := buildahRun(name, argv, env, c.WorkingDir, runAsUser(p, c), podHostname(p), filepath.Join(w.dir, "hosts"), mounts)
	return initSpec{Path: self, Args: args, Env: os.Environ(), Dir: "/", Hostname: podHostname(p), Buildah: true}, nil
}

// The kubelet's limits for a termination message taken from the log (FallbackToLogsOnError):
// the last 80 lines, and of them the last 2048 bytes.
const (
	messageLogLines = 80
	messageLogBytes = 2048
)

// logTail is the end of what a run wrote to the log from `from` on, as the kubelet gives it
// for FallbackToLogsOnError (the agent has no terminationMessagePath file to read first: see
// README, What it does not do).
func logTail(path string, from int64) string {
	raw, err := os.ReadFile(path)
	if err != nil || from > int64(len(raw)) {
		return ""
	}
	out := raw[from:]
	lines := strings.SplitAfter(string(out), "\n")
	if n := len(lines); n > 0 && lines[n-1] == "" {
		lines = lines[:n-1]
	}
	if len(lines) > messageLogLines {
		lines = lines[len(lines)-messageLogLines:]
	}
	text := strings.Join(lines, "")
	if len(text) > messageLogBytes {
		text = text[len(text)-messageLogBytes:]
	}
	return text
}

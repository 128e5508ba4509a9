package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// podWorker runs one pod from the moment it is bound to one of our nodes until its object
// is deleted (or the agent stops). The mutex guards everything below it.
type podWorker struct {
	a           *agent
	uid         types.UID
	name        string        // namespace/name, for logs
	dir         string        // <state-dir>/pods/<ns>_<name>_<uid>: logs, hosts, volumes
	notify      chan struct{} // the pod object changed
	statusDirty chan struct{} // the status to report changed

	mu        sync.Mutex
	pod       *corev1.Pod
	gone      bool // the object is deleted
	stopGrace time.Duration
	ip        string
	startTime *metav1.Time
	hostsText string
	initDone  bool
	failed    bool   // an init container failed and won't be restarted
	waitMsg   string // why containers aren't started yet (e.g. a volume)
	inits     []*ctrState
	ctrs      []*ctrState
}

func newPodWorker(a *agent, p *corev1.Pod) *podWorker {
	w := &podWorker{a: a, uid: p.UID, pod: p, name: p.Namespace + "/" + p.Name,
		dir:    filepath.Join(a.cfg.stateDir, "pods", fmt.Sprintf("%s_%s_%s", p.Namespace, p.Name, p.UID)),
		notify: make(chan struct{}, 1), statusDirty: make(chan struct{}, 1)}
	for _, c := range p.Spec.InitContainers {
		w.inits = append(w.inits, newCtrState(c, true))
	}
	for _, c := range p.Spec.Containers {
		w.ctrs = append(w.ctrs, newCtrState(c, false))
	}
	return w
}

func (w *podWorker) logf(format string, args ...any) {
	w.a.logf("pod %s: %s", w.name, fmt.Sprintf(format, args...))
}

func (w *podWorker) update(p *corev1.Pod, gone bool) {
	w.mu.Lock()
	w.pod, w.gone = p, w.gone || gone
	w.mu.Unlock()
	poke(w.notify)
}

func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (w *podWorker) current() *corev1.Pod {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod
}

func (w *podWorker) dirty() { poke(w.statusDirty) }

func (w *podWorker) facts() podFacts {
	return podFacts{podIP: w.ip, hostIP: hostIP, allocatable: w.a.allocatable()}
}

// run starts the pod, waits for its deletion (or the agent's stop), stops its containers
// with the grace period, deletes the object and frees what the pod held.
func (w *podWorker) run() {
	ctx, stopContainers := context.WithCancel(context.Background())
	statusCtx, stopStatus := context.WithCancel(context.Background())
	containersDone := make(chan struct{})
	go w.statusLoop(statusCtx)
	go func() {
		w.runPod(ctx)
		close(containersDone)
	}()
	agentStopping := false
	for !agentStopping && !w.deleting() {
		select {
		case <-w.notify:
		case <-w.a.ctx.Done():
			agentStopping = true
		}
	}
	w.mu.Lock()
	w.stopGrace = w.grace(agentStopping)
	p, gone := w.pod, w.gone
	w.mu.Unlock()
	w.logf("stopping (grace %s)", w.stopGrace)
	stopContainers()
	<-containersDone
	stopStatus()
	if !agentStopping && !gone {
		w.a.deletePodObject(p)
	}
	w.a.ips.release(string(w.uid))
	os.RemoveAll(filepath.Join(w.dir, "volumes")) // emptyDirs and ConfigMap/Secret copies; logs stay
	w.logf("stopped")
}

func (w *podWorker) deleting() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.gone || w.pod.DeletionTimestamp != nil
}

// grace is how long containers get between SIGTERM and SIGKILL: the deletion's grace period,
// else the pod's terminationGracePeriodSeconds; short for an object already gone (force
// deletion) and capped by --shutdown-grace when the agent stops.
func (w *podWorker) grace(agentStopping bool) time.Duration {
	g := 30 * time.Second
	if s := w.pod.Spec.TerminationGracePeriodSeconds; s != nil {
		g = time.Duration(*s) * time.Second
	}
	if s := w.pod.DeletionGracePeriodSeconds; s != nil {
		g = time.Duration(*s) * time.Second
	}
	if w.gone {
		g = min(g, 2*time.Second)
	}
	if agentStopping {
		g = min(g, w.a.cfg.shutdownGrace)
	}
	return g
}

// runPod gives the pod an IP, prepares its volumes, runs init containers one after the other
// and then all containers, until they finish or ctx ends.
func (w *podWorker) runPod(ctx context.Context) {
	w.mu.Lock()
	p := w.pod
	w.mu.Unlock()
	ip, err := w.allocateIP(p)
	if err != nil {
		w.setWaitMsg(err.Error())
		<-ctx.Done()
		return
	}
	if err := os.MkdirAll(w.dir, 0o755); err != nil {
		w.setWaitMsg(err.Error())
		<-ctx.Done()
		return
	}
	now := metav1.Now()
	w.mu.Lock()
	w.ip, w.startTime = ip.String(), &now
	w.mu.Unlock()
	w.writeHosts(w.a.currentHosts())
	w.dirty()
	var vols map[string]volume
	for { // volumes may wait for a claim to be bound or a ConfigMap to be created
		if vols, err = w.prepareVolumes(ctx, p); err == nil {
			break
		}
		w.setWaitMsg(err.Error())
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	w.setWaitMsg("")
	for _, cs := range w.inits {
		if ok := w.runContainer(ctx, cs, vols); !ok {
			if ctx.Err() == nil {
				w.mu.Lock()
				w.failed = true
				w.mu.Unlock()
				w.dirty()
			}
			return
		}
	}
	w.mu.Lock()
	w.initDone = true
	w.mu.Unlock()
	w.dirty()
	var wg sync.WaitGroup
	for _, cs := range w.ctrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.runContainer(ctx, cs, vols)
		}()
	}
	wg.Wait()
}

// allocateIP keeps the IP the pod already reports (the agent restarted) when it is free.
func (w *podWorker) allocateIP(p *corev1.Pod) (netip.Addr, error) {
	if old, err := netip.ParseAddr(p.Status.PodIP); err == nil && w.a.ips.claim(old, string(w.uid)) {
		return old, nil
	}
	return w.a.ips.allocate(string(w.uid))
}

func (w *podWorker) setWaitMsg(msg string) {
	w.mu.Lock()
	changed := w.waitMsg != msg
	w.waitMsg = msg
	w.mu.Unlock()
	if changed {
		if msg != "" {
			w.logf("waiting: %s", msg)
		}
		w.dirty()
	}
}

// writeHosts rewrites the pod's hosts file in place (same inode: the bind mount over
// /etc/hosts keeps showing it) when its content changes.
func (w *podWorker) writeHosts(entries []hostsEntry) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ip == "" {
		return
	}
	p := w.pod
	self := hostsEntry{ip: w.ip, hostname: podHostname(p), subdomain: p.Spec.Subdomain, namespace: p.Namespace}
	text := renderHosts(self, w.a.cfg.clusterDomain, entries)
	if text == w.hostsText {
		return
	}
	if err := os.WriteFile(filepath.Join(w.dir, "hosts"), []byte(text), 0o644); err != nil {
		w.logf("hosts file: %v", err)
		return
	}
	w.hostsText = text
}

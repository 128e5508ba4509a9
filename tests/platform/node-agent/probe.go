package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// probe runs a container's startup probe, then its readiness and liveness probes, while the
// container runs. A failed startup or liveness probe sends the reason on kill.
func (w *podWorker) probe(ctx context.Context, cs *ctrState, proc *process, env, dirs []string, kill chan<- string) {
	c := &cs.spec
	check := func(p *corev1.Probe) func(context.Context) error {
		return w.checker(c, p.ProbeHandler, proc, env, dirs)
	}
	if p := c.StartupProbe; p != nil {
		passed := false
		probeLoop(ctx, p, check(p), func(ok bool, err error) bool {
			if !ok {
				kill <- fmt.Sprintf("startup probe failed: %v", err)
				return false
			}
			passed = true
			return false
		})
		if !passed {
			return
		}
		w.mu.Lock()
		cs.status.Started = ptr.To(true)
		cs.status.Ready = c.ReadinessProbe == nil
		w.mu.Unlock()
		w.dirty()
	}
	if p := c.ReadinessProbe; p != nil {
		go probeLoop(ctx, p, check(p), func(ok bool, err error) bool {
			if !ok && err != nil {
				w.logf("container %s: readiness probe failed: %v", c.Name, err)
			}
			w.mu.Lock()
			cs.status.Ready = ok
			w.mu.Unlock()
			w.dirty()
			return true
		})
	}
	if p := c.LivenessProbe; p != nil {
		go probeLoop(ctx, p, check(p), func(ok bool, err error) bool {
			if ok {
				return true
			}
			kill <- fmt.Sprintf("liveness probe failed: %v", err)
			return false
		})
	}
}

// probeLoop runs check on the probe's schedule and calls report when the result changes
// (after successThreshold successes or failureThreshold failures in a row), until report
// returns false or ctx ends.
func probeLoop(ctx context.Context, p *corev1.Probe, check func(context.Context) error, report func(ok bool, err error) bool) {
	seconds := func(v, def int32) time.Duration {
		if v <= 0 {
			v = def
		}
		return time.Duration(v) * time.Second
	}
	atLeast := func(v, def int32) int {
		if v <= 0 {
			return int(def)
		}
		return int(v)
	}
	period, timeout := seconds(p.PeriodSeconds, 10), seconds(p.TimeoutSeconds, 1)
	successes, failures := atLeast(p.SuccessThreshold, 1), atLeast(p.FailureThreshold, 3)
	wait := time.Duration(p.InitialDelaySeconds) * time.Second
	state, ok, bad := -1, 0, 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = period
		cctx, cancel := context.WithTimeout(ctx, timeout)
		err := check(cctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			ok, bad = ok+1, 0
			if ok >= successes && state != 1 {
				state = 1
				if !report(true, nil) {
					return
				}
			}
		} else {
			ok, bad = 0, bad+1
			if bad >= failures && state != 0 {
				state = 0
				if !report(false, err) {
					return
				}
			}
		}
	}
}

// checker returns one attempt of a probe handler: httpGet, tcpSocket or exec.
func (w *podWorker) checker(c *corev1.Container, h corev1.ProbeHandler, proc *process, env, dirs []string) func(context.Context) error {
	w.mu.Lock()
	podIP := w.ip
	w.mu.Unlock()
	switch {
	case h.HTTPGet != nil:
		g := h.HTTPGet
		return func(ctx context.Context) error {
			addr, err := probeAddr(c, podIP, g.Host, g.Port)
			if err != nil {
				return err
			}
			scheme := strings.ToLower(string(g.Scheme))
			if scheme == "" {
				scheme = "http"
			}
			path := g.Path
			if !strings.HasPrefix(path, "/") {
				path = "/" + path
			}
			url := scheme + "://" + addr + path
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			req.Header.Set("User-Agent", "kube-probe/tributary-node-agent")
			for _, hd := range g.HTTPHeaders {
				req.Header.Add(hd.Name, hd.Value)
			}
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true,
				TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // the kubelet doesn't verify probe certificates either
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode < 200 || resp.StatusCode >= 400 {
				return fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
			}
			return nil
		}
	case h.TCPSocket != nil:
		t := h.TCPSocket
		return func(ctx context.Context) error {
			addr, err := probeAddr(c, podIP, t.Host, t.Port)
			if err != nil {
				return err
			}
			conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			if err != nil {
				return err
			}
			return conn.Close()
		}
	case h.Exec != nil:
		argv := h.Exec.Command
		return func(ctx context.Context) error {
			if len(argv) == 0 {
				return fmt.Errorf("exec probe without a command")
			}
			path := argv[0]
			if !proc.buildah {
				var err error
				if path, err = resolve(argv[0], dirs, c.Image); err != nil {
					return err
				}
			}
			cmd, err := proc.enterCommand(path, argv)
			if err != nil {
				return err
			}
			return runIn(ctx, cmd, env)
		}
	}
	return func(context.Context) error { return fmt.Errorf("unsupported probe handler (grpc is not implemented)") }
}

// runIn runs an exec probe's command; on timeout its whole process group is killed.
func runIn(ctx context.Context, cmd *exec.Cmd, env []string) error {
	var out bytes.Buffer
	cmd.Env, cmd.Stdout, cmd.Stderr = env, &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%v: %s", err, strings.TrimSpace(out.String()))
		}
		return nil
	case <-ctx.Done():
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return fmt.Errorf("timed out")
	}
}

// probeAddr is host:port of an httpGet or tcpSocket probe; the host defaults to the pod IP.
func probeAddr(c *corev1.Container, podIP, host string, port intstr.IntOrString) (string, error) {
	n, err := containerPort(c, port)
	if host == "" {
		host = podIP
	}
	return net.JoinHostPort(host, strconv.Itoa(n)), err
}

// containerPort resolves a probe port given by number or by the name of a container port.
func containerPort(c *corev1.Container, p intstr.IntOrString) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("container %s has no port named %q", c.Name, p.StrVal)
}

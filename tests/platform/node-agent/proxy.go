package main

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// serviceProxy stands in for kube-proxy's NodePort rules and for a cloud load balancer
// (loadbalancer.go): it listens on every frontend of a NodePort or LoadBalancer Service that has
// at least one endpoint and copies each accepted connection to and from one of them. A
// frontend without endpoints is not listened on, so a client gets "connection refused", as
// kube-proxy's REJECT rule gives it.
type serviceProxy struct {
	a        *agent
	services corelisters.ServiceLister
	lb       *ipPool         // nil: no load balancer stand-in (--lb-ips unset)
	lbOwners map[string]bool // Services (uid) holding a load balancer address; loop only
	dirty    chan struct{}

	mu     sync.Mutex
	open   map[string]*portListener // by address
	failed map[string]string        // address -> last listen error, logged once
}

type portListener struct {
	ln net.Listener
	mu sync.Mutex
	fe frontend // the Service port it serves now
}

const (
	proxyResync = 5 * time.Second // retries listens that failed and status writes
	dialTimeout = 5 * time.Second
)

func newServiceProxy(a *agent, services corelisters.ServiceLister, lb *ipPool) *serviceProxy {
	return &serviceProxy{a: a, services: services, lb: lb, lbOwners: map[string]bool{},
		dirty: make(chan struct{}, 1), open: map[string]*portListener{}, failed: map[string]string{}}
}

func (p *serviceProxy) poke() { poke(p.dirty) }

// run reconciles on every Service or pod change (bursts coalesced) and every proxyResync.
func (p *serviceProxy) run(ctx context.Context) {
	tick := time.NewTicker(proxyResync)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			p.closeAll()
			return
		case <-p.dirty:
		case <-tick.C:
		}
		p.reconcile(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (p *serviceProxy) reconcile(ctx context.Context) {
	svcs, _ := p.services.List(labels.Everything())
	pods, _ := p.a.podLister.List(labels.Everything())
	want := map[string]frontend{}
	live := map[string]bool{}
	for _, svc := range svcs {
		ip := p.loadBalancer(ctx, svc)
		if p.lbOwners[string(svc.UID)] && wantsLoadBalancer(svc) {
			live[string(svc.UID)] = true // kept even while its status write is retried
		}
		for _, fe := range frontends(svc, ip) {
			if len(endpoints(svc, fe.port, pods, p.a.ownsNode)) > 0 {
				want[fe.addr] = fe
			}
		}
	}
	p.releaseGone(live)

	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, l := range p.open {
		if _, ok := want[addr]; !ok {
			l.ln.Close()
			delete(p.open, addr)
			p.a.logf("proxy: closed %s (%s/%s port %d)", addr, l.fe.namespace, l.fe.service, l.fe.port.Port)
		}
	}
	for addr, fe := range want {
		if l, ok := p.open[addr]; ok {
			l.mu.Lock()
			l.fe = fe
			l.mu.Unlock()
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			if p.failed[addr] != err.Error() {
				p.a.logf("proxy: %s/%s port %d: %v (retrying)", fe.namespace, fe.service, fe.port.Port, err)
				p.failed[addr] = err.Error()
			}
			continue
		}
		delete(p.failed, addr)
		l := &portListener{ln: ln, fe: fe}
		p.open[addr] = l
		p.a.logf("proxy: listening on %s for %s/%s port %d", addr, fe.namespace, fe.service, fe.port.Port)
		go p.accept(l)
	}
}

func (p *serviceProxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, l := range p.open {
		l.ln.Close()
		delete(p.open, addr)
	}
}

func (p *serviceProxy) accept(l *portListener) {
	for {
		c, err := l.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			p.a.logf("proxy: accept on %s: %v", l.ln.Addr(), err)
			time.Sleep(100 * time.Millisecond) // e.g. out of file descriptors: don't spin
			continue
		}
		l.mu.Lock()
		fe := l.fe
		l.mu.Unlock()
		go p.forward(fe, c)
	}
}

// forward picks an endpoint at random among those serving now (kube-proxy's iptables mode
// picks at random too) and copies bytes both ways until both sides are done.
func (p *serviceProxy) forward(fe frontend, client net.Conn) {
	defer client.Close()
	svc, err := p.services.Services(fe.namespace).Get(fe.service)
	if err != nil {
		return // deleted since: its listener is about to close
	}
	pods, _ := p.a.podLister.Pods(fe.namespace).List(labels.Everything())
	eps := endpoints(svc, fe.port, pods, p.a.ownsNode)
	if len(eps) == 0 {
		p.a.logf("proxy: %s/%s port %d: no endpoint for a connection from %s", fe.namespace, fe.service, fe.port.Port, client.RemoteAddr())
		return
	}
	target := eps[rand.IntN(len(eps))]
	backend, err := net.DialTimeout("tcp", target, dialTimeout)
	if err != nil {
		p.a.logf("proxy: %s/%s port %d: %v", fe.namespace, fe.service, fe.port.Port, err)
		return
	}
	defer backend.Close()
	splice(client, backend, func(dir string, err error) {
		p.a.logf("proxy: %s/%s port %d %s: %v", fe.namespace, fe.service, fe.port.Port, dir, err)
	})
}

// splice copies a→b and b→a. When one side ends its stream, the other gets the end too
// (CloseWrite) and may still answer; an error in either direction ends both.
func splice(a, b net.Conn, logErr func(dir string, err error)) {
	done := make(chan error, 2)
	half := func(dst, src net.Conn) {
		_, err := io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok && err == nil {
			cw.CloseWrite()
		}
		done <- err
	}
	go half(b, a)
	go half(a, b)
	for range 2 {
		if err := <-done; err != nil {
			if !errors.Is(err, net.ErrClosed) {
				logErr("copy", err)
			}
			a.Close()
			b.Close()
		}
	}
}

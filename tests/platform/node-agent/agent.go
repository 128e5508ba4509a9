package main

import (
	"context"
	"fmt"
	"log"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// hostIP is every node's address: all nodes are this machine.
const hostIP = "127.0.0.1"

type agent struct {
	cfg       *config
	client    kubernetes.Interface
	apiServer *url.URL // pods reach the API server here (KUBERNETES_SERVICE_HOST/PORT)
	ips       *ipPool
	lbIPs     *ipPool // nil without --lb-ips
	proxy     *serviceProxy
	self      string // this executable, re-run as each container's init process
	podLister corelisters.PodLister
	pvLister  corelisters.PersistentVolumeLister
	ctx       context.Context // ends when the agent stops

	mu      sync.Mutex
	workers map[types.UID]*podWorker
	wg      sync.WaitGroup
	hosts   []hostsEntry // pods that cluster DNS would resolve, as last seen

	hostsDirty chan struct{}
}

func newAgent(cfg *config, client kubernetes.Interface, host string) (*agent, error) {
	ips, err := newIPPool(cfg.podIPs)
	if err != nil {
		return nil, fmt.Errorf("--pod-ips %v", err)
	}
	var lbIPs *ipPool
	if cfg.lbIPs != "" {
		if lbIPs, err = newIPPool(cfg.lbIPs); err != nil {
			return nil, fmt.Errorf("--lb-ips %v", err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	api, err := url.Parse(host)
	if err != nil || api.Hostname() == "" {
		return nil, fmt.Errorf("API server address %q: %v", host, err)
	}
	if err := os.MkdirAll(filepath.Join(cfg.stateDir, "pods"), 0o755); err != nil {
		return nil, err
	}
	return &agent{cfg: cfg, client: client, apiServer: api, ips: ips, lbIPs: lbIPs, self: self,
		workers: map[types.UID]*podWorker{}, hostsDirty: make(chan struct{}, 1)}, nil
}

func (a *agent) logf(format string, args ...any) { log.Printf(format, args...) }

func (a *agent) ownsNode(name string) bool { return slices.Contains(a.cfg.nodes, name) }

func (a *agent) run(ctx context.Context) error {
	a.ctx = ctx
	for _, n := range a.cfg.nodes {
		if err := a.registerNode(ctx, n); err != nil {
			return err
		}
	}
	if err := a.ensureStorageClass(ctx); err != nil {
		return fmt.Errorf("storage class: %v", err)
	}
	// All pods, not only ours: every pod with a hostname and subdomain goes into /etc/hosts.
	factory := informers.NewSharedInformerFactory(a.client, 0)
	pods := factory.Core().V1().Pods()
	pvcs := factory.Core().V1().PersistentVolumeClaims()
	pvs := factory.Core().V1().PersistentVolumes()
	services := factory.Core().V1().Services()
	a.podLister, a.pvLister = pods.Lister(), pvs.Lister()
	a.proxy = newServiceProxy(a, services.Lister(), a.lbIPs)
	services.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { a.proxy.poke() },
		UpdateFunc: func(_, _ any) { a.proxy.poke() },
		DeleteFunc: func(any) { a.proxy.poke() },
	})
	pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { a.podChanged(o.(*corev1.Pod), false) },
		UpdateFunc: func(_, o any) { a.podChanged(o.(*corev1.Pod), false) },
		DeleteFunc: func(o any) {
			if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = t.Obj
			}
			if p, ok := o.(*corev1.Pod); ok {
				a.podChanged(p, true)
			}
		},
	})
	pvcs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { a.provision(ctx, o.(*corev1.PersistentVolumeClaim)) },
		UpdateFunc: func(_, o any) { a.provision(ctx, o.(*corev1.PersistentVolumeClaim)) },
	})
	pvs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { a.reclaim(ctx, o.(*corev1.PersistentVolume)) },
		UpdateFunc: func(_, o any) { a.reclaim(ctx, o.(*corev1.PersistentVolume)) },
	})
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	go a.heartbeat(ctx)
	go a.hostsLoop(ctx)
	go a.proxy.run(ctx)
	a.logf("tributary-node-agent: running pods for nodes %v, state in %s", a.cfg.nodes, a.cfg.stateDir)
	<-ctx.Done()
	a.logf("tributary-node-agent: stopping every pod")
	a.wg.Wait()
	factory.Shutdown()
	return nil
}

// podChanged hands a pod event to the pod's worker, starting one for a new pod of our nodes.
func (a *agent) podChanged(p *corev1.Pod, gone bool) {
	a.markHostsDirty()
	a.proxy.poke() // a Service's endpoints may have changed
	if !a.ownsNode(p.Spec.NodeName) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if w, ok := a.workers[p.UID]; ok {
		w.update(p, gone)
		return
	}
	if gone || a.ctx.Err() != nil {
		return
	}
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		// Finished before this agent started: nothing runs; finish a deletion like the kubelet.
		if p.DeletionTimestamp != nil {
			go a.deletePodObject(p)
		}
		return
	}
	w := newPodWorker(a, p)
	a.workers[p.UID] = w
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		w.run()
		a.mu.Lock()
		delete(a.workers, p.UID)
		a.mu.Unlock()
	}()
}

// deletePodObject removes a pod whose containers have stopped (grace 0, as the kubelet does).
func (a *agent) deletePodObject(p *corev1.Pod) {
	err := a.client.CoreV1().Pods(p.Namespace).Delete(context.Background(), p.Name, metav1.DeleteOptions{
		GracePeriodSeconds: new(int64), Preconditions: &metav1.Preconditions{UID: &p.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		a.logf("pod %s/%s: delete: %v", p.Namespace, p.Name, err)
	}
}

func (a *agent) markHostsDirty() { poke(a.hostsDirty) }

// hostsLoop rewrites every running pod's /etc/hosts when the set of pod DNS names changes.
func (a *agent) hostsLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.hostsDirty:
		}
		all, _ := a.podLister.List(labels.Everything())
		var entries []hostsEntry
		for _, p := range all {
			if e, ok := dnsEntry(p); ok {
				entries = append(entries, e)
			}
		}
		a.mu.Lock()
		a.hosts = entries
		workers := make([]*podWorker, 0, len(a.workers))
		for _, w := range a.workers {
			workers = append(workers, w)
		}
		a.mu.Unlock()
		for _, w := range workers {
			w.writeHosts(entries)
		}
		// Coalesce bursts (a StatefulSet scaling up) into one pass.
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (a *agent) currentHosts() []hostsEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.hosts
}

// configMap and secret implement sources with reads from the API server (not cached: pods
// start rarely in tests, and a fresh read sees an object created just before the pod).
func (a *agent) configMap(ns, name string) (*corev1.ConfigMap, error) {
	return a.client.CoreV1().ConfigMaps(ns).Get(a.ctx, name, metav1.GetOptions{})
}

func (a *agent) secret(ns, name string) (*corev1.Secret, error) {
	return a.client.CoreV1().Secrets(ns).Get(a.ctx, name, metav1.GetOptions{})
}

func (a *agent) allocatable() corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: a.cfg.cpu, corev1.ResourceMemory: a.cfg.memory}
}

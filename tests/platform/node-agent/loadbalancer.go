package main

import (
	"context"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The load balancer stand-in does what a cloud controller (kind's cloud-provider-kind, say)
// does for a LoadBalancer Service: it gives the Service an address, writes it to
// status.loadBalancer.ingress, and has traffic to address:port reach the Service's pods. Here
// the address is a loopback one from --lb-ips and the proxy (proxy.go) listens on it.

// lbAddress decides the address of svc: the one its status already holds when that is ours
// (taken again after an agent restart), else a new one, which must then be written to the
// status (write true). ip is "" when svc gets none: not a LoadBalancer of the default class,
// an address someone else gave it, or the pool is full (err).
func lbAddress(pool *ipPool, svc *corev1.Service) (ip string, write bool, err error) {
	if !wantsLoadBalancer(svc) {
		return "", false, nil
	}
	owner := string(svc.UID)
	if have := lbIngressIP(svc); have != "" {
		a, perr := netip.ParseAddr(have)
		if perr == nil && pool.claim(a, owner) {
			return have, false, nil
		}
		return "", false, nil
	}
	a, err := pool.allocate(owner)
	if err != nil {
		return "", false, err
	}
	return a.String(), true, nil
}

// loadBalancer returns svc's load balancer address once its status shows it ("" otherwise).
func (p *serviceProxy) loadBalancer(ctx context.Context, svc *corev1.Service) string {
	if p.lb == nil {
		return ""
	}
	ip, write, err := lbAddress(p.lb, svc)
	if err != nil {
		p.a.logf("load balancer: %s/%s: %v", svc.Namespace, svc.Name, err)
		return ""
	}
	if ip == "" {
		return ""
	}
	p.lbOwners[string(svc.UID)] = true
	if !write {
		return ip
	}
	// The address stays allocated to the Service's uid: if the write fails (a conflict), the
	// next pass hands out the same one.
	s := svc.DeepCopy()
	s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ip}}
	if _, err := p.a.client.CoreV1().Services(s.Namespace).UpdateStatus(ctx, s, metav1.UpdateOptions{}); err != nil {
		p.a.logf("load balancer: %s/%s: status: %v (retrying)", s.Namespace, s.Name, err)
		return ""
	}
	p.a.logf("load balancer: %s/%s at %s", s.Namespace, s.Name, ip)
	return ip
}

// releaseGone frees the addresses of Services that are gone or no longer LoadBalancers.
func (p *serviceProxy) releaseGone(live map[string]bool) {
	for owner := range p.lbOwners {
		if !live[owner] {
			p.lb.release(owner)
			delete(p.lbOwners, owner)
		}
	}
}

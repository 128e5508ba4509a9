package main

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// hostsEntry is one pod that cluster DNS would answer for: a pod with spec.hostname and
// spec.subdomain (StatefulSet pods get both) resolves as <hostname>.<subdomain>.<ns>.svc.<domain>.
type hostsEntry struct {
	ip, hostname, subdomain, namespace string
}

func (e hostsEntry) names(domain string) []string {
	svc := e.hostname + "." + e.subdomain + "." + e.namespace + ".svc"
	return []string{svc + "." + domain, svc}
}

// dnsEntry returns the entry for a pod that has an IP, a hostname and a subdomain and is not
// finished or being deleted.
func dnsEntry(p *corev1.Pod) (hostsEntry, bool) {
	if p.Spec.Hostname == "" || p.Spec.Subdomain == "" || p.Status.PodIP == "" || p.DeletionTimestamp != nil ||
		p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return hostsEntry{}, false
	}
	return hostsEntry{p.Status.PodIP, p.Spec.Hostname, p.Spec.Subdomain, p.Namespace}, true
}

// podHostname is what the pod's hostname is set to: spec.hostname, else the pod name
// (cut to 63 characters, as the kubelet does).
func podHostname(p *corev1.Pod) string {
	h := p.Spec.Hostname
	if h == "" {
		h = p.Name
	}
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-.")
	}
	return h
}

// renderHosts writes a pod's /etc/hosts: localhost, the pod's own names on its IP, then every
// other entry in a stable order.
func renderHosts(self hostsEntry, domain string, entries []hostsEntry) string {
	var b strings.Builder
	b.WriteString("# Written by tributary-node-agent: it stands in for cluster DNS (pod names only).\n")
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	own := []string{}
	if self.subdomain != "" {
		own = self.names(domain)
	}
	own = append(own, self.hostname)
	fmt.Fprintf(&b, "%s\t%s\n", self.ip, strings.Join(own, " "))
	sorted := slices.Clone(entries)
	slices.SortFunc(sorted, func(x, y hostsEntry) int {
		return strings.Compare(x.names(domain)[0], y.names(domain)[0])
	})
	for _, e := range sorted {
		if e.namespace == self.namespace && e.hostname == self.hostname && e.subdomain == self.subdomain {
			continue // already on the pod's own line
		}
		fmt.Fprintf(&b, "%s\t%s\n", e.ip, strings.Join(e.names(domain), " "))
	}
	return b.String()
}

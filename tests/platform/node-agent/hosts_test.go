package main

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestRenderHosts(t *testing.T) {
	self := hostsEntry{"127.1.0.2", "broker-0", "brokers", "ns1"}
	entries := []hostsEntry{
		{"127.1.0.3", "coord-0", "coords", "ns1"},
		self,
		{"127.1.0.9", "broker-1", "brokers", "ns2"},
	}
	got := renderHosts(self, "cluster.local", entries)
	want := "# Written by tributary-node-agent: it stands in for cluster DNS (pod names only).\n" +
		"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"127.1.0.2\tbroker-0.brokers.ns1.svc.cluster.local broker-0.brokers.ns1.svc broker-0\n" +
		"127.1.0.9\tbroker-1.brokers.ns2.svc.cluster.local broker-1.brokers.ns2.svc\n" +
		"127.1.0.3\tcoord-0.coords.ns1.svc.cluster.local coord-0.coords.ns1.svc\n"
	if got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
	plain := renderHosts(hostsEntry{ip: "127.1.0.5", hostname: "web", namespace: "x"}, "cluster.local", nil)
	if !strings.HasSuffix(plain, "127.1.0.5\tweb\n") {
		t.Fatalf("pod without subdomain: %q", plain)
	}
}

func TestDNSEntryAndHostname(t *testing.T) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "n"},
		Spec:   corev1.PodSpec{Hostname: "web-0", Subdomain: "web"},
		Status: corev1.PodStatus{PodIP: "127.1.0.1", Phase: corev1.PodRunning}}
	if e, ok := dnsEntry(p); !ok || e.ip != "127.1.0.1" {
		t.Fatalf("running pod: %v %v", e, ok)
	}
	p.Status.Phase = corev1.PodFailed
	if _, ok := dnsEntry(p); ok {
		t.Fatal("failed pod must not resolve")
	}
	p.Status.Phase = corev1.PodRunning
	p.Spec.Subdomain = ""
	if _, ok := dnsEntry(p); ok {
		t.Fatal("pod without subdomain has no DNS name")
	}
	long := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: strings.Repeat("a", 62) + "-b"}}
	if h := podHostname(long); h != strings.Repeat("a", 62) {
		t.Fatalf("hostname %q", h)
	}
}

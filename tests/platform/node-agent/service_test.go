package main

import (
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func svcTestPod(name, node, ip string, ready bool) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"app": "echo"}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{
			{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP},
			{Name: "echo", ContainerPort: 7000}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
	}
}

func testService(typ corev1.ServiceType, policy corev1.ServiceExternalTrafficPolicy) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "echo", Namespace: "ns", UID: types.UID("uid-1")},
		Spec: corev1.ServiceSpec{Type: typ, ExternalTrafficPolicy: policy, Selector: map[string]string{"app": "echo"},
			Ports: []corev1.ServicePort{{Name: "tcp", Port: 80, TargetPort: intstr.FromString("echo"), NodePort: 30080}}},
	}
}

func TestTargetPort(t *testing.T) {
	pod := svcTestPod("p", "node-a", "127.1.0.2", true)
	for _, c := range []struct {
		target intstr.IntOrString
		want   int32
		ok     bool
	}{
		{intstr.FromInt32(8080), 8080, true},
		{intstr.IntOrString{}, 80, true}, // unset: the Service port
		{intstr.FromString("echo"), 7000, true},
		{intstr.FromString("dns"), 0, false}, // UDP only
		{intstr.FromString("nope"), 0, false},
	} {
		got, ok := targetPort(corev1.ServicePort{Port: 80, TargetPort: c.target}, pod)
		if got != c.want || ok != c.ok {
			t.Errorf("targetPort(%v) = %d, %v; want %d, %v", c.target, got, ok, c.want, c.ok)
		}
	}
}

func TestEndpointsLocalAndCluster(t *testing.T) {
	local := func(n string) bool { return n == "node-a" || n == "node-b" }
	other := svcTestPod("elsewhere", "node-z", "127.1.0.9", true)
	notReady := svcTestPod("starting", "node-a", "127.1.0.3", false)
	deleting := svcTestPod("going", "node-a", "127.1.0.4", true)
	deleting.DeletionTimestamp = &metav1.Time{}
	noIP := svcTestPod("new", "node-a", "", true)
	foreign := svcTestPod("foreign", "node-a", "127.1.0.5", true)
	foreign.Namespace = "other"
	unlabelled := svcTestPod("unlabelled", "node-b", "127.1.0.6", true)
	unlabelled.Labels = nil
	pods := []*corev1.Pod{svcTestPod("b", "node-b", "127.1.0.7", true), svcTestPod("a", "node-a", "127.1.0.2", true),
		other, notReady, deleting, noIP, foreign, unlabelled}

	svc := testService(corev1.ServiceTypeNodePort, corev1.ServiceExternalTrafficPolicyLocal)
	if got, want := endpoints(svc, svc.Spec.Ports[0], pods, local), []string{"127.1.0.2:7000", "127.1.0.7:7000"}; !slices.Equal(got, want) {
		t.Errorf("Local: %v, want %v", got, want)
	}
	svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	if got, want := endpoints(svc, svc.Spec.Ports[0], pods, local), []string{"127.1.0.2:7000", "127.1.0.7:7000", "127.1.0.9:7000"}; !slices.Equal(got, want) {
		t.Errorf("Cluster: %v, want %v", got, want)
	}
	svc.Spec.PublishNotReadyAddresses = true
	if got := endpoints(svc, svc.Spec.Ports[0], pods, local); !slices.Contains(got, "127.1.0.3:7000") {
		t.Errorf("publishNotReadyAddresses: %v lacks the not-ready pod", got)
	}
	svc.Spec.Selector = nil
	if got := endpoints(svc, svc.Spec.Ports[0], pods, local); got != nil {
		t.Errorf("no selector: %v, want none", got)
	}
}

func TestFrontends(t *testing.T) {
	svc := testService(corev1.ServiceTypeLoadBalancer, corev1.ServiceExternalTrafficPolicyLocal)
	svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: "udp", Port: 53, Protocol: corev1.ProtocolUDP, NodePort: 30053})
	var got []string
	for _, fe := range frontends(svc, "127.200.0.1") {
		got = append(got, fe.addr)
	}
	if want := []string{"127.0.0.1:30080", "127.200.0.1:80"}; !slices.Equal(got, want) {
		t.Errorf("LoadBalancer: %v, want %v", got, want)
	}
	svc.Spec.Type = corev1.ServiceTypeNodePort
	if got := frontends(svc, "127.200.0.1"); len(got) != 1 || got[0].addr != "127.0.0.1:30080" {
		t.Errorf("NodePort: %v", got)
	}
	svc.Spec.Type = corev1.ServiceTypeClusterIP
	if got := frontends(svc, ""); got != nil {
		t.Errorf("ClusterIP: %v, want none", got)
	}
}

func TestLBAddress(t *testing.T) {
	pool, err := newIPPool("127.200.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	svc := testService(corev1.ServiceTypeLoadBalancer, corev1.ServiceExternalTrafficPolicyLocal)
	ip, write, err := lbAddress(pool, svc)
	if err != nil || !write || !netip.MustParsePrefix("127.200.0.0/16").Contains(netip.MustParseAddr(ip)) {
		t.Fatalf("new Service: %q, write %v, %v", ip, write, err)
	}
	// Once the status holds it: the same address, nothing to write.
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ip}}
	if again, write, _ := lbAddress(pool, svc); again != ip || write {
		t.Errorf("with status: %q, write %v; want %q, false", again, write, ip)
	}
	// Another Service gets another address; one holding an address that isn't ours gets none.
	other := svc.DeepCopy()
	other.UID, other.Status = "uid-2", corev1.ServiceStatus{}
	if ip2, _, _ := lbAddress(pool, other); ip2 == "" || ip2 == ip {
		t.Errorf("second Service: %q (first %q)", ip2, ip)
	}
	other.UID = "uid-3"
	other.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "10.0.0.1"}}
	if got, _, _ := lbAddress(pool, other); got != "" {
		t.Errorf("foreign ingress: %q, want none", got)
	}
	// An agent restarted with an empty pool takes the address the status shows back.
	fresh, _ := newIPPool("127.200.0.0/16")
	if got, write, _ := lbAddress(fresh, svc); got != ip || write {
		t.Errorf("after restart: %q, write %v", got, write)
	}
	// Not ours to serve: another class, another type.
	svc.Spec.LoadBalancerClass = ptr.To("example.com/lb")
	if got, _, _ := lbAddress(fresh, svc); got != "" {
		t.Errorf("loadBalancerClass: %q, want none", got)
	}
	svc.Spec.LoadBalancerClass = nil
	svc.Spec.Type = corev1.ServiceTypeNodePort
	if got, _, _ := lbAddress(fresh, svc); got != "" {
		t.Errorf("NodePort: %q, want none", got)
	}
	// Released addresses are handed out again (last, as the pool goes round).
	pool.release("uid-1")
	if !pool.claim(netip.MustParseAddr(ip), "uid-9") {
		t.Errorf("released %s not free", ip)
	}
}

package main

import (
	"net"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// The pure half of the Service stand-ins (proxy.go, loadbalancer.go): which addresses a
// Service is reached at and which pods take its connections.

// frontend is one address the agent listens on for a Service port.
type frontend struct {
	addr      string // ip:port
	namespace string
	service   string
	port      corev1.ServicePort
}

// tcp: kube-proxy forwards UDP and SCTP too; the stand-in only TCP.
func tcp(p corev1.ServicePort) bool { return p.Protocol == "" || p.Protocol == corev1.ProtocolTCP }

// frontends lists where svc is reached: hostIP:nodePort for each TCP port with a node port
// (NodePort and LoadBalancer Services), and lbIP:port for each TCP port when the Service has
// a load balancer address of ours (lbIP empty: none).
func frontends(svc *corev1.Service, lbIP string) []frontend {
	var out []frontend
	if svc.Spec.Type != corev1.ServiceTypeNodePort && svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return nil
	}
	for _, p := range svc.Spec.Ports {
		if !tcp(p) {
			continue
		}
		if p.NodePort != 0 {
			out = append(out, frontend{net.JoinHostPort(hostIP, strconv.Itoa(int(p.NodePort))), svc.Namespace, svc.Name, p})
		}
		if lbIP != "" && svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
			out = append(out, frontend{net.JoinHostPort(lbIP, strconv.Itoa(int(p.Port))), svc.Namespace, svc.Name, p})
		}
	}
	return out
}

// targetPort is the pod port a Service port forwards to: targetPort's number, the container
// port of that name (TCP) when it is a name, the Service port when unset. ok is false when the
// pod has no port of that name, as the endpoints controller leaves such a pod out.
func targetPort(p corev1.ServicePort, pod *corev1.Pod) (int32, bool) {
	if p.TargetPort.StrVal == "" {
		if p.TargetPort.IntVal != 0 {
			return p.TargetPort.IntVal, true
		}
		return p.Port, true
	}
	for _, c := range pod.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.Name == p.TargetPort.StrVal && (cp.Protocol == "" || cp.Protocol == corev1.ProtocolTCP) {
				return cp.ContainerPort, true
			}
		}
	}
	return 0, false
}

// serving: a pod the endpoints controller would list as a ready endpoint: running, not being
// deleted, with an IP, and Ready unless the Service publishes not-ready addresses.
func serving(svc *corev1.Service, pod *corev1.Pod) bool {
	if pod.DeletionTimestamp != nil || pod.Status.PodIP == "" || pod.Status.Phase != corev1.PodRunning {
		return false
	}
	if svc.Spec.PublishNotReadyAddresses {
		return true
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// endpoints are the pod addresses (ip:port, sorted) that a connection to port of svc may go
// to. A Service without a selector has none (nothing here reads EndpointSlices: the API server
// refuses loopback addresses in them). local says whether a node is one of this agent's: with
// externalTrafficPolicy Local only pods there qualify, as kube-proxy only sends external
// traffic to pods on the node it arrived at; with Cluster any node's pods do (every node is
// this machine, so all are reachable).
func endpoints(svc *corev1.Service, port corev1.ServicePort, pods []*corev1.Pod, local func(node string) bool) []string {
	if len(svc.Spec.Selector) == 0 {
		return nil
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	onlyLocal := svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
	var out []string
	for _, pod := range pods {
		if pod.Namespace != svc.Namespace || !sel.Matches(labels.Set(pod.Labels)) || !serving(svc, pod) {
			continue
		}
		if onlyLocal && !local(pod.Spec.NodeName) {
			continue
		}
		if n, ok := targetPort(port, pod); ok {
			out = append(out, net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(int(n))))
		}
	}
	slices.Sort(out)
	return out
}

// lbIngressIP is the first ingress IP in svc's status ("" when there is none).
func lbIngressIP(svc *corev1.Service) string {
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if in.IP != "" {
			return in.IP
		}
	}
	return ""
}

// wantsLoadBalancer: a LoadBalancer Service of the default class (a loadBalancerClass names
// another implementation, which a cloud controller leaves alone too).
func wantsLoadBalancer(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.LoadBalancerClass == nil &&
		svc.DeletionTimestamp == nil
}

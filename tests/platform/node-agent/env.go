package main

import (
	"fmt"
	"math"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// podFacts are the values of a pod the downward API can ask for beyond its object.
type podFacts struct {
	podIP, hostIP string
	allocatable   corev1.ResourceList // the node's, for resource limits a container doesn't set
}

// fieldRef resolves a downward-API field path for env vars and downwardAPI volumes.
func fieldRef(p *corev1.Pod, f podFacts, path string) (string, error) {
	if key, ok := subscript(path, "metadata.labels"); ok {
		return p.Labels[key], nil
	}
	if key, ok := subscript(path, "metadata.annotations"); ok {
		return p.Annotations[key], nil
	}
	switch path {
	case "metadata.name":
		return p.Name, nil
	case "metadata.namespace":
		return p.Namespace, nil
	case "metadata.uid":
		return string(p.UID), nil
	case "metadata.labels":
		return formatMap(p.Labels), nil
	case "metadata.annotations":
		return formatMap(p.Annotations), nil
	case "spec.nodeName":
		return p.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return p.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs":
		return f.podIP, nil // one IP per pod here
	case "status.hostIP", "status.hostIPs":
		return f.hostIP, nil
	}
	return "", fmt.Errorf("unsupported fieldRef %q", path)
}

// subscript parses `prefix['key']`.
func subscript(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"['")
	if !ok || !strings.HasSuffix(rest, "']") {
		return "", false
	}
	return strings.TrimSuffix(rest, "']"), true
}

// formatMap renders labels or annotations the way a downwardAPI volume file holds them.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%q\n", k, m[k])
	}
	return b.String()
}

// resourceRef resolves limits.cpu, requests.memory and the like; a limit the container does
// not set is the node's allocatable amount, as in Kubernetes.
func resourceRef(c *corev1.Container, f podFacts, r *corev1.ResourceFieldSelector) (string, error) {
	kind, name, ok := strings.Cut(r.Resource, ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return "", fmt.Errorf("unsupported resourceFieldRef %q", r.Resource)
	}
	list := c.Resources.Limits
	if kind == "requests" {
		list = c.Resources.Requests
	}
	q, set := list[corev1.ResourceName(name)]
	if !set {
		q, set = f.allocatable[corev1.ResourceName(name)]
	}
	if !set {
		return "", fmt.Errorf("resourceFieldRef %q: no such resource", r.Resource)
	}
	divisor := r.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	return fmt.Sprint(int64(math.Ceil(float64(q.MilliValue()) / float64(divisor.MilliValue())))), nil
}

// sources fetches the ConfigMaps and Secrets env vars and volumes refer to.
type sources interface {
	configMap(ns, name string) (*corev1.ConfigMap, error)
	secret(ns, name string) (*corev1.Secret, error)
}

// buildEnv computes a container's environment in Kubernetes' order: base (what the runtime
// and the image set, e.g. PATH), then envFrom, then env, each value expanded against the
// variables defined before it. It returns "K=V" pairs (later duplicates win) and the final
// map for expanding command and args.
func buildEnv(p *corev1.Pod, c *corev1.Container, f podFacts, src sources, base [][2]string) ([]string, map[string]string, error) {
	vars := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, seen := vars[k]; !seen {
			order = append(order, k)
		}
		vars[k] = v
	}
	for _, kv := range base {
		set(kv[0], kv[1])
	}
	for _, from := range c.EnvFrom {
		data, err := envFromData(p.Namespace, from, src)
		if err != nil {
			return nil, nil, err
		}
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			set(from.Prefix+k, data[k])
		}
	}
	for _, e := range c.Env {
		v, skip, err := envValue(p, c, f, src, e, vars)
		if err != nil {
			return nil, nil, fmt.Errorf("env %s: %v", e.Name, err)
		}
		if !skip {
			set(e.Name, v)
		}
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vars[k])
	}
	return out, vars, nil
}

func envFromData(ns string, from corev1.EnvFromSource, src sources) (map[string]string, error) {
	switch {
	case from.ConfigMapRef != nil:
		cm, err := src.configMap(ns, from.ConfigMapRef.Name)
		if err != nil {
			if isTrue(from.ConfigMapRef.Optional) {
				return nil, nil
			}
			return nil, fmt.Errorf("envFrom configMap %s: %v", from.ConfigMapRef.Name, err)
		}
		return cm.Data, nil
	case from.SecretRef != nil:
		s, err := src.secret(ns, from.SecretRef.Name)
		if err != nil {
			if isTrue(from.SecretRef.Optional) {
				return nil, nil
			}
			return nil, fmt.Errorf("envFrom secret %s: %v", from.SecretRef.Name, err)
		}
		data := map[string]string{}
		for k, v := range s.Data {
			data[k] = string(v)
		}
		return data, nil
	}
	return nil, nil
}

// envValue returns one variable's value; skip is true for an optional reference that is missing.
func envValue(p *corev1.Pod, c *corev1.Container, f podFacts, src sources, e corev1.EnvVar,
	defined map[string]string) (v string, skip bool, err error) {
	if e.ValueFrom == nil {
		return expand(e.Value, mapLookup(defined)), false, nil
	}
	vf := e.ValueFrom
	switch {
	case vf.FieldRef != nil:
		v, err = fieldRef(p, f, vf.FieldRef.FieldPath)
		return v, false, err
	case vf.ResourceFieldRef != nil:
		v, err = resourceRef(c, f, vf.ResourceFieldRef)
		return v, false, err
	case vf.ConfigMapKeyRef != nil:
		r := vf.ConfigMapKeyRef
		cm, err := src.configMap(p.Namespace, r.Name)
		if err == nil {
			if val, ok := cm.Data[r.Key]; ok {
				return val, false, nil
			}
			err = fmt.Errorf("configMap %s has no key %q", r.Name, r.Key)
		}
		return "", isTrue(r.Optional), optionalErr(r.Optional, err)
	case vf.SecretKeyRef != nil:
		r := vf.SecretKeyRef
		s, err := src.secret(p.Namespace, r.Name)
		if err == nil {
			if val, ok := s.Data[r.Key]; ok {
				return string(val), false, nil
			}
			err = fmt.Errorf("secret %s has no key %q", r.Name, r.Key)
		}
		return "", isTrue(r.Optional), optionalErr(r.Optional, err)
	}
	return "", false, fmt.Errorf("unsupported valueFrom")
}

func isTrue(b *bool) bool { return b != nil && *b }

func optionalErr(optional *bool, err error) error {
	if isTrue(optional) {
		return nil
	}
	return err
}

package main

import (
	"errors"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type fakeSources struct {
	cms     map[string]*corev1.ConfigMap
	secrets map[string]*corev1.Secret
}

func (f fakeSources) configMap(ns, name string) (*corev1.ConfigMap, error) {
	if cm, ok := f.cms[name]; ok {
		return cm, nil
	}
	return nil, errors.New("not found")
}

func (f fakeSources) secret(ns, name string) (*corev1.Secret, error) {
	if s, ok := f.secrets[name]; ok {
		return s, nil
	}
	return nil, errors.New("not found")
}

func testPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "broker-2", Namespace: "ns", UID: "u-1",
			Labels:      map[string]string{"apps.kubernetes.io/pod-index": "2", "app": "b"},
			Annotations: map[string]string{"note": "hi"}},
		Spec: corev1.PodSpec{NodeName: "node-a", ServiceAccountName: "sa"},
	}
}

func TestFieldRef(t *testing.T) {
	p := testPod()
	f := podFacts{podIP: "127.1.0.7", hostIP: "127.0.0.1"}
	want := map[string]string{
		"metadata.name": "broker-2", "metadata.namespace": "ns", "metadata.uid": "u-1",
		"metadata.labels['apps.kubernetes.io/pod-index']": "2", "metadata.labels['missing']": "",
		"metadata.annotations['note']": "hi", "spec.nodeName": "node-a", "spec.serviceAccountName": "sa",
		"status.podIP": "127.1.0.7", "status.podIPs": "127.1.0.7", "status.hostIP": "127.0.0.1",
		"metadata.labels": "app=\"b\"\napps.kubernetes.io/pod-index=\"2\"\n",
	}
	for path, w := range want {
		if got, err := fieldRef(p, f, path); err != nil || got != w {
			t.Errorf("fieldRef(%s) = %q, %v; want %q", path, got, err, w)
		}
	}
	for _, bad := range []string{"spec.containers", "metadata.labels['x'", ""} {
		if _, err := fieldRef(p, f, bad); err == nil {
			t.Errorf("fieldRef(%q) should fail", bad)
		}
	}
}

func TestBuildEnv(t *testing.T) {
	yes := true
	src := fakeSources{
		cms:     map[string]*corev1.ConfigMap{"cfg": {Data: map[string]string{"B": "from-cm", "A": "a"}}},
		secrets: map[string]*corev1.Secret{"sec": {Data: map[string][]byte{"pw": []byte("s3cret")}}},
	}
	c := &corev1.Container{
		EnvFrom: []corev1.EnvFromSource{{Prefix: "CM_", ConfigMapRef: &corev1.ConfigMapEnvSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		Env: []corev1.EnvVar{
			{Name: "INDEX", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
				FieldPath: "metadata.labels['apps.kubernetes.io/pod-index']"}}},
			{Name: "ID", Value: "node-$(INDEX)-$(LATER)-$$(INDEX)"},
			{Name: "LATER", Value: "x"},
			{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}, Key: "pw"}}},
			{Name: "GONE", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Key: "k", Optional: &yes}}},
			{Name: "CPU", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{
				Resource: "limits.cpu", Divisor: resource.MustParse("1m")}}},
			{Name: "CM_A", Value: "overridden"},
		},
	}
	f := podFacts{allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}
	env, vars, err := buildEnv(testPod(), c, f, src, [][2]string{{"PATH", "/bin"}, {"CPU", "base"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"PATH=/bin", "CPU=2000", "CM_A=overridden", "CM_B=from-cm", "INDEX=2", "ID=node-2-$(LATER)-$(INDEX)",
		"LATER=x", "PW=s3cret"}
	if !slices.Equal(env, want) {
		t.Fatalf("env %q\nwant %q", env, want)
	}
	if vars["ID"] != "node-2-$(LATER)-$(INDEX)" {
		t.Fatalf("vars %v", vars)
	}
	c.Env = []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}, Key: "missing"}}}}
	if _, _, err := buildEnv(testPod(), c, f, src, nil); err == nil {
		t.Fatal("a missing required key must be an error")
	}
}

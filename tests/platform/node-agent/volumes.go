package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// volume is a prepared pod volume: a host directory, and whether Kubernetes mounts it read-only
// whatever the volumeMount says (ConfigMap, Secret, downwardAPI and projected volumes).
type volume struct {
	dir      string
	readOnly bool
	fsGroup  bool // the pod's fsGroup applies (emptyDir, claims), as the kubelet does
}

type file struct {
	data []byte
	mode fs.FileMode
}

// fileSet is the files of a ConfigMap/Secret/downwardAPI/projected volume, by path.
type fileSet map[string]file

// prepareVolumes makes every pod volume's directory. Files of ConfigMaps and Secrets are
// written once, when the pod starts (Kubernetes refreshes them later; this agent doesn't).
func (w *podWorker) prepareVolumes(ctx context.Context, p *corev1.Pod) (map[string]volume, error) {
	vols := map[string]volume{}
	for _, v := range p.Spec.Volumes {
		own := filepath.Join(w.dir, "volumes", v.Name)
		switch {
		case v.EmptyDir != nil:
			if err := os.MkdirAll(own, 0o777); err != nil {
				return nil, err
			}
			os.Chmod(own, 0o777) // as the kubelet makes them: any container user may write
			vols[v.Name] = volume{dir: own, fsGroup: true}
		case v.HostPath != nil:
			vols[v.Name] = volume{dir: v.HostPath.Path}
		case v.PersistentVolumeClaim != nil:
			dir, err := w.claimDir(ctx, p.Namespace, v.PersistentVolumeClaim.ClaimName)
			if err != nil {
				return nil, fmt.Errorf("volume %s: %v", v.Name, err)
			}
			vols[v.Name] = volume{dir: dir, readOnly: v.PersistentVolumeClaim.ReadOnly, fsGroup: true}
		default:
			files, err := w.volumeFiles(ctx, p, v.VolumeSource)
			if err != nil {
				return nil, fmt.Errorf("volume %s: %v", v.Name, err)
			}
			if err := writeFiles(own, files); err != nil {
				return nil, fmt.Errorf("volume %s: %v", v.Name, err)
			}
			vols[v.Name] = volume{dir: own, readOnly: true}
		}
	}
	return vols, nil
}

// claimDir is the directory of the PV bound to a claim.
func (w *podWorker) claimDir(ctx context.Context, ns, claim string) (string, error) {
	pvc, err := w.a.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	if pvc.Spec.VolumeName == "" || pvc.Status.Phase != corev1.ClaimBound {
		return "", fmt.Errorf("claim %s is not bound yet", claim)
	}
	pv, err := w.a.client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	switch {
	case pv.Spec.HostPath != nil:
		return pv.Spec.HostPath.Path, os.MkdirAll(pv.Spec.HostPath.Path, 0o777)
	case pv.Spec.Local != nil:
		return pv.Spec.Local.Path, nil
	}
	return "", fmt.Errorf("volume %s of claim %s is neither hostPath nor local", pv.Name, claim)
}

// volumeFiles computes the files of a ConfigMap, Secret, downwardAPI or projected volume.
func (w *podWorker) volumeFiles(ctx context.Context, p *corev1.Pod, v corev1.VolumeSource) (fileSet, error) {
	files := fileSet{}
	mode := func(m *int32, def fs.FileMode) fs.FileMode {
		if m != nil {
			return fs.FileMode(*m)
		}
		return def
	}
	var sources []corev1.VolumeProjection
	def := fs.FileMode(0o644)
	switch {
	case v.ConfigMap != nil:
		def = mode(v.ConfigMap.DefaultMode, def)
		sources = []corev1.VolumeProjection{{ConfigMap: &corev1.ConfigMapProjection{
			LocalObjectReference: v.ConfigMap.LocalObjectReference, Items: v.ConfigMap.Items, Optional: v.ConfigMap.Optional}}}
	case v.Secret != nil:
		def = mode(v.Secret.DefaultMode, def)
		sources = []corev1.VolumeProjection{{Secret: &corev1.SecretProjection{
			LocalObjectReference: corev1.LocalObjectReference{Name: v.Secret.SecretName}, Items: v.Secret.Items, Optional: v.Secret.Optional}}}
	case v.DownwardAPI != nil:
		def = mode(v.DownwardAPI.DefaultMode, def)
		sources = []corev1.VolumeProjection{{DownwardAPI: &corev1.DownwardAPIProjection{Items: v.DownwardAPI.Items}}}
	case v.Projected != nil:
		def = mode(v.Projected.DefaultMode, def)
		sources = v.Projected.Sources
	default:
		return nil, fmt.Errorf("unsupported volume type (supported: emptyDir, hostPath, persistentVolumeClaim, configMap, secret, downwardAPI, projected)")
	}
	for _, s := range sources {
		var data map[string][]byte
		var items []corev1.KeyToPath
		switch {
		case s.ConfigMap != nil:
			cm, err := w.a.configMap(p.Namespace, s.ConfigMap.Name)
			if err != nil {
				if isTrue(s.ConfigMap.Optional) {
					continue
				}
				return nil, fmt.Errorf("configMap %s: %v", s.ConfigMap.Name, err)
			}
			data = map[string][]byte{}
			for k, v := range cm.Data {
				data[k] = []byte(v)
			}
			for k, v := range cm.BinaryData {
				data[k] = v
			}
			items = s.ConfigMap.Items
		case s.Secret != nil:
			sec, err := w.a.secret(p.Namespace, s.Secret.Name)
			if err != nil {
				if isTrue(s.Secret.Optional) {
					continue
				}
				return nil, fmt.Errorf("secret %s: %v", s.Secret.Name, err)
			}
			data, items = sec.Data, s.Secret.Items
		case s.DownwardAPI != nil:
			for _, it := range s.DownwardAPI.Items {
				val, err := w.downwardValue(p, it)
				if err != nil {
					return nil, err
				}
				files[it.Path] = file{[]byte(val), mode(it.Mode, def)}
			}
			continue
		case s.ServiceAccountToken != nil:
			files[s.ServiceAccountToken.Path] = file{[]byte(w.token(ctx, p, s.ServiceAccountToken)), def}
			continue
		default:
			continue // clusterTrustBundle, podCertificate: not supported, left out
		}
		if len(items) == 0 {
			for k, v := range data {
				files[k] = file{v, def}
			}
			continue
		}
		for _, it := range items {
			v, ok := data[it.Key]
			if !ok {
				return nil, fmt.Errorf("no key %q", it.Key)
			}
			files[it.Path] = file{v, mode(it.Mode, def)}
		}
	}
	return files, nil
}

func (w *podWorker) downwardValue(p *corev1.Pod, it corev1.DownwardAPIVolumeFile) (string, error) {
	f := w.facts()
	if it.FieldRef != nil {
		return fieldRef(p, f, it.FieldRef.FieldPath)
	}
	if it.ResourceFieldRef != nil {
		for i := range p.Spec.Containers {
			if p.Spec.Containers[i].Name == it.ResourceFieldRef.ContainerName {
				return resourceRef(&p.Spec.Containers[i], f, it.ResourceFieldRef)
			}
		}
		return "", fmt.Errorf("downwardAPI %s: no container %q", it.Path, it.ResourceFieldRef.ContainerName)
	}
	return "", fmt.Errorf("downwardAPI %s: no fieldRef or resourceFieldRef", it.Path)
}

// token asks the API server for a token bound to the pod (what the kubelet puts in
// kube-api-access-* volumes). On failure the file is empty: pods that don't talk to the API
// server still start.
func (w *podWorker) token(ctx context.Context, p *corev1.Pod, s *corev1.ServiceAccountTokenProjection) string {
	sa := p.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: s.ExpirationSeconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: p.Name, UID: p.UID},
	}}
	if s.Audience != "" {
		req.Spec.Audiences = []string{s.Audience}
	}
	tr, err := w.a.client.CoreV1().ServiceAccounts(p.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		w.logf("token for service account %s: %v (the token file stays empty)", sa, err)
		return ""
	}
	return tr.Status.Token
}

// writeFiles replaces dir's content with files; paths must stay inside dir.
func writeFiles(dir string, files fileSet) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for path, f := range files {
		clean := filepath.Clean(path)
		if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
			return fmt.Errorf("file path %q leaves the volume", path)
		}
		full := filepath.Join(dir, clean)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, f.data, f.mode.Perm()); err != nil {
			return err
		}
		if err := os.Chmod(full, f.mode.Perm()); err != nil { // WriteFile's mode is masked by umask
			return err
		}
	}
	return nil
}

// containerMounts maps a container's volumeMounts to bind mounts.
func containerMounts(c *corev1.Container, vols map[string]volume) ([]mountSpec, error) {
	var out []mountSpec
	for _, m := range c.VolumeMounts {
		v, ok := vols[m.Name]
		if !ok {
			return nil, fmt.Errorf("volumeMount %s: no such volume", m.Name)
		}
		src := v.dir
		if m.SubPath != "" {
			clean := filepath.Clean(m.SubPath)
			if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
				return nil, fmt.Errorf("volumeMount %s: subPath %q leaves the volume", m.Name, m.SubPath)
			}
			src = filepath.Join(v.dir, clean)
			if _, err := os.Stat(src); os.IsNotExist(err) {
				if err := os.MkdirAll(src, 0o777); err != nil {
					return nil, err
				}
			}
		}
		out = append(out, mountSpec{Source: src, Target: m.MountPath, ReadOnly: m.ReadOnly || v.readOnly})
	}
	return out, nil
}

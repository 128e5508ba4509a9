package main

import (
	"context"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	selectedNodeAnnotation  = "volume.kubernetes.io/selected-node"
	provisionedByAnnotation = "pv.kubernetes.io/provisioned-by"
)

// provision makes a PersistentVolume for a claim of our StorageClass once the scheduler has
// chosen one of our nodes for it: a directory under --state-dir/volumes that outlives pods,
// as a hostPath volume pinned to that node. The PV controller then binds the two.
func (a *agent) provision(ctx context.Context, pvc *corev1.PersistentVolumeClaim) {
	node := pvc.Annotations[selectedNodeAnnotation]
	if pvc.Spec.VolumeName != "" || pvc.DeletionTimestamp != nil || !a.ownsNode(node) ||
		pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != storageClassName {
		return
	}
	name := "pvc-" + string(pvc.UID)
	if _, err := a.pvLister.Get(name); err == nil {
		return
	}
	dir := filepath.Join(a.cfg.stateDir, "volumes", name)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		a.logf("provision %s/%s: %v", pvc.Namespace, pvc.Name, err)
		return
	}
	os.Chmod(dir, 0o777) // containers may run as another user; a real provisioner would use fsGroup
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{provisionedByAnnotation: provisionerName}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   pvc.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			StorageClassName:              storageClassName,
			VolumeMode:                    pvc.Spec.VolumeMode,
			ClaimRef: &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname",
					Operator: corev1.NodeSelectorOpIn, Values: []string{node}}}}}}},
		},
	}
	if _, err := a.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		a.logf("provision %s/%s: %v", pvc.Namespace, pvc.Name, err)
		return
	}
	a.logf("provisioned %s for claim %s/%s on node %s", name, pvc.Namespace, pvc.Name, node)
}

// reclaim deletes a released volume we made (reclaim policy Delete): its directory, then the PV.
func (a *agent) reclaim(ctx context.Context, pv *corev1.PersistentVolume) {
	if pv.Annotations[provisionedByAnnotation] != provisionerName || pv.Status.Phase != corev1.VolumeReleased ||
		pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete || pv.Spec.HostPath == nil ||
		filepath.Dir(pv.Spec.HostPath.Path) != filepath.Join(a.cfg.stateDir, "volumes") {
		return
	}
	if err := os.RemoveAll(pv.Spec.HostPath.Path); err != nil {
		a.logf("reclaim %s: %v", pv.Name, err)
		return
	}
	err := a.client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		a.logf("reclaim %s: %v", pv.Name, err)
	}
}

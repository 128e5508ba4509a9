package main

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// statusLoop writes the pod's status whenever it changes, until ctx ends.
func (w *podWorker) statusLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.statusDirty:
		}
		if err := w.writeStatus(ctx); err != nil && ctx.Err() == nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			if !apierrors.IsConflict(err) {
				w.logf("status: %v", err)
			}
			w.dirty()
			select { // try again a little later
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

func (w *podWorker) writeStatus(ctx context.Context) error {
	cur := w.current()
	cached, err := w.a.podLister.Pods(cur.Namespace).Get(cur.Name) // a stale copy fails with a conflict: retried
	if err != nil {
		return err
	}
	p := cached.DeepCopy()
	if p.UID != w.uid {
		return nil // a new pod of the same name (StatefulSet): not ours
	}
	w.mu.Lock()
	st := w.buildStatus(&p.Status)
	w.mu.Unlock()
	if apiequality.Semantic.DeepEqual(p.Status, st) {
		return nil
	}
	p.Status = st
	_, err = w.a.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	return err
}

// buildStatus computes the pod's status from what runs, keeping the fields others own
// (qosClass, the scheduler's PodScheduled condition). Caller holds w.mu.
func (w *podWorker) buildStatus(old *corev1.PodStatus) corev1.PodStatus {
	st := *old.DeepCopy()
	st.HostIP, st.HostIPs = hostIP, []corev1.HostIP{{IP: hostIP}}
	if w.ip != "" {
		st.PodIP, st.PodIPs = w.ip, []corev1.PodIP{{IP: w.ip}}
	}
	st.StartTime = w.startTime
	st.InitContainerStatuses = statuses(w.inits)
	st.ContainerStatuses = statuses(w.ctrs)
	st.Phase = w.phase()
	st.Reason, st.Message = "", w.waitMsg

	ready := w.initDone
	for _, c := range w.ctrs {
		ready = ready && c.status.Ready
	}
	initialized := w.initDone
	cond := func(t corev1.PodConditionType, ok bool, reason string) {
		s := corev1.ConditionFalse
		if ok {
			s, reason = corev1.ConditionTrue, ""
		}
		setCondition(&st, corev1.PodCondition{Type: t, Status: s, Reason: reason})
	}
	cond(corev1.PodReadyToStartContainers, w.ip != "", "")
	cond(corev1.PodInitialized, initialized, "ContainersNotInitialized")
	cond(corev1.ContainersReady, ready, "ContainersNotReady")
	cond(corev1.PodReady, ready, "ContainersNotReady")
	return st
}

// setCondition replaces a condition, keeping its transition time when its status is unchanged.
func setCondition(st *corev1.PodStatus, c corev1.PodCondition) {
	now := metav1.Now()
	c.LastTransitionTime = now
	for i, old := range st.Conditions {
		if old.Type == c.Type {
			if old.Status == c.Status {
				c.LastTransitionTime = old.LastTransitionTime
			}
			st.Conditions[i] = c
			return
		}
	}
	st.Conditions = append(st.Conditions, c)
}

func statuses(cs []*ctrState) []corev1.ContainerStatus {
	out := make([]corev1.ContainerStatus, 0, len(cs))
	for _, c := range cs {
		out = append(out, *c.status.DeepCopy())
	}
	return out
}

// phase follows the kubelet: Failed when an init container failed for good; Pending until
// the init containers are done and a container has started; Succeeded/Failed when every
// container has terminated for good; Running otherwise (also while one waits to restart).
func (w *podWorker) phase() corev1.PodPhase {
	if w.failed {
		return corev1.PodFailed
	}
	if !w.initDone {
		return corev1.PodPending
	}
	started, final, failed := false, 0, false
	for _, c := range w.ctrs {
		started = started || c.runs > 0
		if c.final {
			final++
			failed = failed || c.status.State.Terminated == nil || c.status.State.Terminated.ExitCode != 0
		}
	}
	switch {
	case final == len(w.ctrs) && failed:
		return corev1.PodFailed
	case final == len(w.ctrs):
		return corev1.PodSucceeded
	case started:
		return corev1.PodRunning
	}
	return corev1.PodPending
}

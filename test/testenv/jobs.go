package testenv

import (
	"context"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// JobOutcome is how a simulated Job ends: its container's exit code and
// termination message; Hold leaves the Job running.
type JobOutcome struct {
	ExitCode int32
	Message  string
	Hold     bool
}

// SimulateJobs plays the Job controller and the kubelet, which envtest does not run,
// for the Jobs of namespace ns until the test ends: each new Job gets a pod whose
// container terminated as outcome says, and the Job's status follows (Complete, or
// Failed), as the Job controller writes it.
func (e *Env) SimulateJobs(tb testing.TB, ns string, outcome func(*batchv1.Job) JobOutcome) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	w, err := e.Client.Watch(ctx, &batchv1.JobList{}, client.InNamespace(ns))
	if err != nil {
		tb.Fatalf("testenv: watching Jobs in %s: %v", ns, err)
	}
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			job, ok := ev.Object.(*batchv1.Job)
			if !ok || ev.Type != watch.Added {
				continue
			}
			if err := e.finishJob(ctx, job, outcome(job)); err != nil && ctx.Err() == nil {
				tb.Errorf("testenv: simulating Job %s/%s: %v", ns, job.Name, err)
			}
		}
	}()
}

func (e *Env) finishJob(ctx context.Context, job *batchv1.Job, o JobOutcome) error {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: job.Namespace, Name: job.Name + "-x", Labels: map[string]string{batchv1.JobNameLabel: job.Name}},
		Spec:       job.Spec.Template.Spec,
	}
	if err := e.Client.Create(ctx, pod); err != nil {
		return err
	}
	now := metav1.Now()
	start := metav1.NewTime(now.Add(-time.Second))
	job.Status.StartTime = &start
	if o.Hold {
		job.Status.Active = 1
		return e.Client.Status().Update(ctx, job)
	}
	phase := corev1.PodSucceeded
	if o.ExitCode != 0 {
		phase = corev1.PodFailed
	}
	pod.Status = corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{{
		Name: pod.Spec.Containers[0].Name, Image: pod.Spec.Containers[0].Image,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: o.ExitCode, Message: o.Message,
			StartedAt: start, FinishedAt: now}}}}}
	if err := e.Client.Status().Update(ctx, pod); err != nil {
		return err
	}
	if o.ExitCode == 0 {
		job.Status.Succeeded = 1
		job.Status.CompletionTime = &now
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now},
		}
	} else {
		job.Status.Failed = 1
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: batchv1.JobReasonBackoffLimitExceeded, LastTransitionTime: now, LastProbeTime: now},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: batchv1.JobReasonBackoffLimitExceeded, LastTransitionTime: now, LastProbeTime: now},
		}
	}
	return e.Client.Status().Update(ctx, job)
}

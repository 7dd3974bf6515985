package controller

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

// Release phase: reasons of ReleaseReady, and the Job's names.
const (
	ReasonReleaseWaiting   = "ReleaseWaiting"
	ReasonReleaseRunning   = "ReleaseRunning"
	ReasonReleaseSucceeded = "ReleaseSucceeded"
	ReasonReleaseFailed    = "ReleaseFailed"
	ReasonReleaseConflict  = "ReleaseConflict"
	// ReasonReleasePending is WorkloadReady's while the rollout waits for
	// the release phase.
	ReasonReleasePending = "ReleasePending"

	releaseContainerName = "release"
	// labelComponent marks the release Job's pods, which must not carry
	// plattr.dev/app: the app's Service and Deployment select on it.
	labelComponent   = "app.kubernetes.io/component"
	componentRelease = "release"
	// annotationReleaseImage on a release Job names the image it runs.
	annotationReleaseImage = "plattr.dev/release-image"
	// keepReleaseJobs is how many finished release Jobs of earlier images
	// stay (their logs, and "ran once" for a rollback to them).
	keepReleaseJobs = 3
	// releaseMessageLines and releaseMessageBytes bound the failed command's
	// output shown in ReleaseReady.
	releaseMessageLines = 20
	releaseMessageBytes = 2048
)

// ReleaseJob is the Job that runs app's release command for its image: the
// app's container (image, environment with the services' Secrets, resources,
// security context) with the command, run once (no retry), within the
// timeout; a failure's last output lines become the container's termination
// message.
func ReleaseJob(app *plattrv1.Application, secrets []string) *batchv1.Job {
	rel := app.Spec.Release
	c := container(app, releaseContainerName, secrets)
	c.Command = append([]string(nil), rel.Command...)
	c.TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
	pod := podSpec(app, c)
	pod.RestartPolicy = corev1.RestartPolicyNever
	meta := objectMeta(app, plattrv1.ReleaseJobName(app.Name, app.Spec.Image))
	meta.Labels[labelComponent] = componentRelease
	meta.Annotations = map[string]string{annotationReleaseImage: app.Spec.Image}
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: meta,
		Spec: batchv1.JobSpec{
			BackoffLimit:          ptr.To[int32](0),
			ActiveDeadlineSeconds: ptr.To(int64(rel.ReleaseTimeout().Seconds())),
			// A pod evicted (a node drained, preempted) did not fail: it runs again.
			PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action:          batchv1.PodFailurePolicyActionIgnore,
				OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}},
			}}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{labelName: app.Name, LabelManagedBy: ManagedBy, labelComponent: componentRelease}},
				Spec:       pod,
			},
		},
	}
}

// reconcileRelease runs the release phase of the spec's image: it creates the
// image's Job once the backing services are ready, reports ReleaseReady from
// it, and says whether the rollout must wait (held): while the command runs
// and after it failed, the previous pods keep serving. An image whose command
// succeeded is never run again, even once its Job is gone.
func (r *ApplicationReconciler) reconcileRelease(ctx context.Context, app *plattrv1.Application, secrets serviceSecrets, servicesReady bool, st *status) (held bool, err error) {
	if app.Spec.Release == nil {
		st.remove(plattrv1.ConditionReleaseReady)
		st.Release = nil
		return false, nil
	}
	image := app.Spec.Image
	desired := ReleaseJob(app, secrets.names)
	var succeeded []string
	if st.Release != nil {
		succeeded = st.Release.Succeeded
	}
	var job batchv1.Job
	err = r.Get(ctx, client.ObjectKeyFromObject(desired), &job)
	switch {
	case apierrors.IsNotFound(err):
		if slices.Contains(succeeded, image) {
			st.Release = &plattrv1.ReleaseStatus{Image: image, Job: desired.Name, Phase: plattrv1.ReleasePhaseSucceeded, Succeeded: succeeded}
			st.set(app, plattrv1.ConditionReleaseReady, true, ReasonReleaseSucceeded, "the release command succeeded for "+image)
			return false, nil
		}
		if !servicesReady {
			st.set(app, plattrv1.ConditionReleaseReady, false, ReasonReleaseWaiting, "waiting for the backing services before running the release command")
			return true, nil
		}
		// One release command at a time: an earlier image's (or this one's,
		// its Job deleted while its pod still ends) runs to its end first: two
		// migrations must not race on one schema.
		running, err := r.runningRelease(ctx, app, desired.Name, st.Release)
		if err != nil {
			return true, err
		}
		if running != "" {
			st.set(app, plattrv1.ConditionReleaseReady, false, ReasonReleaseWaiting,
				fmt.Sprintf("waiting for %s to end before running the release command for %s", running, image))
			return true, nil
		}
		err = r.startRelease(ctx, app, desired, succeeded, st)
		if !apierrors.IsAlreadyExists(err) {
			return true, err
		}
		// Not in the cache, which holds only Plattr's Jobs: someone else's.
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(desired), &job); err != nil {
			return true, fmt.Errorf("read release job %q: %w", desired.Name, err)
		}
		if metav1.IsControlledBy(&job, app) {
			return true, nil // the cache is behind: its event follows
		}
		return true, releaseConflict(app, desired.Name, st)
	case err != nil:
		return true, fmt.Errorf("read release job %q: %w", desired.Name, err)
	case !metav1.IsControlledBy(&job, app):
		return true, releaseConflict(app, desired.Name, st)
	}
	prev := st.Release
	st.Release = &plattrv1.ReleaseStatus{Image: image, Job: job.Name, Phase: jobPhase(&job), Succeeded: succeeded}
	again := prev != nil && prev.Job == job.Name && prev.Phase == st.Release.Phase
	switch st.Release.Phase {
	case plattrv1.ReleasePhaseSucceeded:
		st.Release.Succeeded = remember(succeeded, image)
		st.set(app, plattrv1.ConditionReleaseReady, true, ReasonReleaseSucceeded, "the release command succeeded for "+image)
		if !again {
			r.Recorder.Eventf(app, corev1.EventTypeNormal, ReasonReleaseSucceeded, "Release command succeeded (Job %s); rolling out %s", job.Name, image)
		}
		return false, r.pruneReleaseJobs(ctx, app, job.Name)
	case plattrv1.ReleasePhaseFailed:
		st.stalled = true
		if c := st.condition(plattrv1.ConditionReleaseReady); again && c != nil && c.Reason == ReasonReleaseFailed {
			st.set(app, plattrv1.ConditionReleaseReady, false, ReasonReleaseFailed, c.Message) // read when it failed
			return true, nil
		}
		msg, err := r.releaseFailure(ctx, app, &job)
		if err != nil {
			return true, err
		}
		st.set(app, plattrv1.ConditionReleaseReady, false, ReasonReleaseFailed, msg)
		r.Recorder.Eventf(app, corev1.EventTypeWarning, ReasonReleaseFailed, "%s", msg)
		return true, nil
	}
	st.set(app, plattrv1.ConditionReleaseReady, false, ReasonReleaseRunning, runningMessage(image, job.Name))
	return true, nil
}

func runningMessage(image, job string) string {
	return fmt.Sprintf("running the release command for %s (Job %s); the previous release keeps serving", image, job)
}

// remember puts image first in the images whose command succeeded, keeping
// at most plattrv1.MaxReleaseHistory.
func remember(succeeded []string, image string) []string {
	out := []string{image}
	for _, s := range succeeded {
		if s != image && len(out) < plattrv1.MaxReleaseHistory {
			out = append(out, s)
		}
	}
	return out
}

// releaseConflict reports a Job of the release Job's name that is not the
// app's: nothing is taken over; a person renames or deletes it.
func releaseConflict(app *plattrv1.Application, name string, st *status) error {
	st.stalled = true
	st.set(app, plattrv1.ConditionReleaseReady, false, ReasonReleaseConflict,
		fmt.Sprintf("Job %q exists and is not this Application's: rename or delete it", name))
	return reconcile.TerminalError(fmt.Errorf("release job %q is not this Application's", name))
}

// startRelease creates the release Job (an AlreadyExists error is returned
// as it is, for the caller to read who owns it).
func (r *ApplicationReconciler) startRelease(ctx context.Context, app *plattrv1.Application, job *batchv1.Job, succeeded []string, st *status) error {
	if err := controllerutil.SetControllerReference(app, job, r.Scheme()); err != nil {
		return err
	}
	if err := r.Create(ctx, job); apierrors.IsAlreadyExists(err) {
		return err
	} else if err != nil {
		st.set(app, plattrv1.ConditionReleaseReady, false, ReasonReleaseWaiting, "cannot create the release Job: "+err.Error())
		return fmt.Errorf("create release job %q: %w", job.Name, err)
	}
	ctrl.LoggerFrom(ctx).Info("release command started", "job", job.Name, "image", app.Spec.Image)
	r.Recorder.Eventf(app, corev1.EventTypeNormal, "ReleaseStarted", "Running the release command for %s (Job %s)", app.Spec.Image, job.Name)
	st.Release = &plattrv1.ReleaseStatus{Image: app.Spec.Image, Job: job.Name, Phase: plattrv1.ReleasePhaseRunning, Succeeded: succeeded}
	st.set(app, plattrv1.ConditionReleaseReady, false, ReasonReleaseRunning, runningMessage(app.Spec.Image, job.Name))
	return nil
}

// jobPhase reads a Job's end from its conditions: Complete or Failed, else
// Running.
func jobPhase(job *batchv1.Job) string {
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return plattrv1.ReleasePhaseSucceeded
		case batchv1.JobFailed:
			return plattrv1.ReleasePhaseFailed
		}
	}
	return plattrv1.ReleasePhaseRunning
}

// releaseFailure says why a release Job failed: its timeout, or the
// command's exit code and the last lines it printed (the container's
// termination message) with every value of every Secret the Job reads
// removed, and how to run it again.
func (r *ApplicationReconciler) releaseFailure(ctx context.Context, app *plattrv1.Application, job *batchv1.Job) (string, error) {
	retry := fmt.Sprintf("; to run it again, delete Job %s, or release another image", job.Name)
	for _, c := range job.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Reason == batchv1.JobReasonDeadlineExceeded {
			return fmt.Sprintf("the release command for %s ran longer than its timeout (%s) and was stopped (Job %s)",
				app.Spec.Image, app.Spec.Release.ReleaseTimeout(), job.Name) + retry, nil
		}
	}
	var pods corev1.PodList
	if err := r.APIReader.List(ctx, &pods, client.InNamespace(job.Namespace), client.MatchingLabels{batchv1.JobNameLabel: job.Name}); err != nil {
		return "", fmt.Errorf("read the pods of release job %q: %w", job.Name, err)
	}
	for _, p := range pods.Items {
		if !metav1.IsControlledBy(&p, job) {
			continue
		}
		for _, cs := range p.Status.ContainerStatuses {
			t := cs.State.Terminated
			if cs.Name != releaseContainerName || t == nil || t.ExitCode == 0 {
				continue
			}
			msg := fmt.Sprintf("the release command for %s failed with exit code %d (Job %s)", app.Spec.Image, t.ExitCode, job.Name) + retry
			secrets, err := r.jobSecrets(ctx, job)
			if err != nil {
				// Without every value to remove, no output is shown.
				ctrl.LoggerFrom(ctx).Info("release output not shown: cannot read the Secrets to remove from it", "job", job.Name, "error", err.Error())
				return msg + "; its output is not shown (the Secrets it reads could not be read to remove them from it)", nil
			}
			out := t.Message
			if len(out) >= kubeletMessageBytes {
				// Cut by the kubelet: the first line may hold the end of a
				// credential, which the removal cannot recognise.
				_, out, _ = strings.Cut(out, "\n")
			}
			if out := lastLines(redactSecrets(out, secrets)); out != "" {
				msg += "; its output ends:\n" + out
			}
			return msg, nil
		}
	}
	return fmt.Sprintf("the release command for %s failed (Job %s)", app.Spec.Image, job.Name) + retry, nil
}

// kubeletMessageBytes is the size at which the kubelet cuts a termination
// message taken from the output (from its start).
const kubeletMessageBytes = 2048

// jobSecrets reads the data of every Secret the Job's container reads, by
// envFrom or by key: what its output must not show.
func (r *ApplicationReconciler) jobSecrets(ctx context.Context, job *batchv1.Job) (map[string]map[string][]byte, error) {
	names := map[string]bool{}
	for _, c := range job.Spec.Template.Spec.Containers {
		for _, f := range c.EnvFrom {
			if f.SecretRef != nil {
				names[f.SecretRef.Name] = true
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				names[e.ValueFrom.SecretKeyRef.Name] = true
			}
		}
	}
	out := map[string]map[string][]byte{}
	for name := range names {
		var s corev1.Secret
		err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: job.Namespace, Name: name}, &s)
		switch {
		case apierrors.IsNotFound(err):
			continue // nothing of it reached the pod
		case err != nil:
			return nil, fmt.Errorf("read secret %q: %w", name, err)
		}
		out[name] = s.Data
	}
	return out, nil
}

// lastLines keeps the end of out: at most releaseMessageLines lines and
// releaseMessageBytes bytes, cut at a line.
func lastLines(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) > releaseMessageLines {
		lines = lines[len(lines)-releaseMessageLines:]
	}
	for len(lines) > 1 && len(strings.Join(lines, "\n")) > releaseMessageBytes {
		lines = lines[1:]
	}
	s := strings.TrimSpace(strings.Join(lines, "\n"))
	if len(s) > releaseMessageBytes {
		s = s[len(s)-releaseMessageBytes:]
	}
	return s
}

// urlCredentials matches the password of a URL's user information.
var urlCredentials = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*):[^@\s]*@`)

// minSecretLen: shorter Secret values (a port, "true") are not searched for
// in output; every credential Plattr makes is much longer.
const minSecretLen = 8

// redactSecrets removes from out every value of the Secrets the operator
// made for the app (passwords, URLs with them) and the password of any URL.
func redactSecrets(out string, data map[string]map[string][]byte) string {
	var values []string
	for _, keys := range data {
		for _, v := range keys {
			if len(v) >= minSecretLen {
				values = append(values, string(v))
			}
		}
	}
	// Longest first: a URL is removed whole before the password inside it.
	sort.Slice(values, func(i, j int) bool { return len(values[i]) > len(values[j]) })
	for _, v := range values {
		out = strings.ReplaceAll(out, v, "[redacted]")
	}
	return urlCredentials.ReplaceAllString(out, "$1:[redacted]@")
}

// runningRelease names what still runs a release command of app other than
// Job name's: another release Job of the app (from the cache, and the one the
// status last started, read from the API server: the cache may not hold a Job
// made moments ago), or a pod of Job name itself, deleted while its pod ends.
// "" when nothing runs.
func (r *ApplicationReconciler) runningRelease(ctx context.Context, app *plattrv1.Application, name string, last *plattrv1.ReleaseStatus) (string, error) {
	var jobs batchv1.JobList
	if err := r.List(ctx, &jobs, client.InNamespace(app.Namespace), client.MatchingLabels{plattrv1.LabelApp: app.Name, labelComponent: componentRelease}); err != nil {
		return "", fmt.Errorf("list release jobs: %w", err)
	}
	for i := range jobs.Items {
		j := &jobs.Items[i]
		if j.Name != name && metav1.IsControlledBy(j, app) && j.DeletionTimestamp == nil && jobPhase(j) == plattrv1.ReleasePhaseRunning {
			return fmt.Sprintf("the release command of %s (Job %s)", j.Annotations[annotationReleaseImage], j.Name), nil
		}
	}
	if last != nil && last.Phase == plattrv1.ReleasePhaseRunning && last.Job != name {
		var j batchv1.Job
		err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: app.Namespace, Name: last.Job}, &j)
		switch {
		case err == nil && metav1.IsControlledBy(&j, app) && j.DeletionTimestamp == nil && jobPhase(&j) == plattrv1.ReleasePhaseRunning:
			return fmt.Sprintf("the release command of %s (Job %s)", last.Image, last.Job), nil
		case err != nil && !apierrors.IsNotFound(err):
			return "", fmt.Errorf("read release job %q: %w", last.Job, err)
		}
	}
	var pods corev1.PodList
	if err := r.APIReader.List(ctx, &pods, client.InNamespace(app.Namespace), client.MatchingLabels{batchv1.JobNameLabel: name}); err != nil {
		return "", fmt.Errorf("read the pods of release job %q: %w", name, err)
	}
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			return fmt.Sprintf("pod %s of the deleted Job %s", p.Name, name), nil
		}
	}
	return "", nil
}

// pruneReleaseJobs deletes the app's finished release Jobs of earlier images
// beyond the newest keepReleaseJobs, with their pods.
func (r *ApplicationReconciler) pruneReleaseJobs(ctx context.Context, app *plattrv1.Application, current string) error {
	var jobs batchv1.JobList
	if err := r.List(ctx, &jobs, client.InNamespace(app.Namespace), client.MatchingLabels{plattrv1.LabelApp: app.Name, labelComponent: componentRelease}); err != nil {
		return fmt.Errorf("list release jobs: %w", err)
	}
	var old []batchv1.Job
	for _, j := range jobs.Items {
		if j.Name != current && metav1.IsControlledBy(&j, app) && jobPhase(&j) != plattrv1.ReleasePhaseRunning {
			old = append(old, j)
		}
	}
	if len(old) <= keepReleaseJobs {
		return nil
	}
	sort.Slice(old, func(i, j int) bool { return old[i].CreationTimestamp.After(old[j].CreationTimestamp.Time) })
	for i := range old[keepReleaseJobs:] {
		j := &old[keepReleaseJobs+i]
		if err := r.Delete(ctx, j, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete release job %q: %w", j.Name, err)
		}
	}
	return nil
}

package controller

import (
	"context"
	"fmt"
	"regexp"
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
	var job batchv1.Job
	err = r.Get(ctx, client.ObjectKeyFromObject(desired), &job)
	switch {
	case apierrors.IsNotFound(err):
		if st.Release != nil && st.Release.Image == image && st.Release.Phase == plattrv1.ReleasePhaseSucceeded {
			return false, nil
		}
		if !servicesReady {
			st.set(app, plattrv1.ConditionReleaseReady, false, ReasonReleaseWaiting, "waiting for the backing services before running the release command")
			return true, nil
		}
		// One release command at a time: an earlier image's, still running,
		// ends first (two migrations must not race on one schema).
		running, err := r.runningRelease(ctx, app, desired.Name)
		if err != nil {
			return true, err
		}
		if running != nil {
			st.set(app, plattrv1.ConditionReleaseReady, false, ReasonReleaseWaiting,
				fmt.Sprintf("waiting for the release command of %s (Job %s) to end before running %s's", running.Annotations[annotationReleaseImage], running.Name, image))
			return true, nil
		}
		err = r.startRelease(ctx, app, desired, st)
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
	st.Release = &plattrv1.ReleaseStatus{Image: image, Job: job.Name, Phase: jobPhase(&job)}
	again := prev != nil && prev.Job == job.Name && prev.Phase == st.Release.Phase
	switch st.Release.Phase {
	case plattrv1.ReleasePhaseSucceeded:
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
		msg, err := r.releaseFailure(ctx, app, &job, secrets)
		if err != nil {
			return true, err
		}
		st.set(app, plattrv1.ConditionReleaseReady, false, ReasonReleaseFailed, msg)
		r.Recorder.Eventf(app, corev1.EventTypeWarning, ReasonReleaseFailed, "%s", msg)
		return true, nil
	}
	st.set(app, plattrv1.ConditionReleaseReady, false, ReasonReleaseRunning,
		fmt.Sprintf("running the release command for %s (Job %s); the previous release keeps serving", image, job.Name))
	return true, nil
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
func (r *ApplicationReconciler) startRelease(ctx context.Context, app *plattrv1.Application, job *batchv1.Job, st *status) error {
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
	st.Release = &plattrv1.ReleaseStatus{Image: app.Spec.Image, Job: job.Name, Phase: plattrv1.ReleasePhaseRunning}
	st.set(app, plattrv1.ConditionReleaseReady, false, ReasonReleaseRunning,
		fmt.Sprintf("running the release command for %s (Job %s); the previous release keeps serving", app.Spec.Image, job.Name))
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
// termination message), with every credential the operator knows removed.
func (r *ApplicationReconciler) releaseFailure(ctx context.Context, app *plattrv1.Application, job *batchv1.Job, secrets serviceSecrets) (string, error) {
	for _, c := range job.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Reason == batchv1.JobReasonDeadlineExceeded {
			return fmt.Sprintf("the release command for %s ran longer than its timeout (%s) and was stopped (Job %s)",
				app.Spec.Image, app.Spec.Release.ReleaseTimeout(), job.Name), nil
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
			msg := fmt.Sprintf("the release command for %s failed with exit code %d (Job %s)", app.Spec.Image, t.ExitCode, job.Name)
			if out := lastLines(redactSecrets(t.Message, secrets.data)); out != "" {
				msg += "; its output ends:\n" + out
			}
			return msg, nil
		}
	}
	return fmt.Sprintf("the release command for %s failed (Job %s)", app.Spec.Image, job.Name), nil
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

// runningRelease is the app's release Job, other than name, whose command
// still runs; nil when there is none.
func (r *ApplicationReconciler) runningRelease(ctx context.Context, app *plattrv1.Application, name string) (*batchv1.Job, error) {
	var jobs batchv1.JobList
	if err := r.List(ctx, &jobs, client.InNamespace(app.Namespace), client.MatchingLabels{plattrv1.LabelApp: app.Name, labelComponent: componentRelease}); err != nil {
		return nil, fmt.Errorf("list release jobs: %w", err)
	}
	for i := range jobs.Items {
		j := &jobs.Items[i]
		if j.Name != name && metav1.IsControlledBy(j, app) && j.DeletionTimestamp == nil && jobPhase(j) == plattrv1.ReleasePhaseRunning {
			return j, nil
		}
	}
	return nil, nil
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

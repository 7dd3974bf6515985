package controller

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/services"
)

// Credential rotation, with no failed login (services.Rotator):
//
//  1. spec.credentials.rotate changes: the current credentials are kept in
//     the Secret <app>-<service>-previous (owned by the Application, read by
//     no pod), the service makes new ones valid beside them, and the
//     service's Secret gets the new ones: the pods roll (their template
//     carries the Secrets' hash).
//  2. Meanwhile Observe and Ensure keep both valid (Instance.Previous).
//  3. Once every pod of the app runs with the new Secret (none with another
//     hash, terminating ones included), the service retires the previous
//     credentials and the previous Secret goes.
//
// A rollout that never completes leaves both valid, and the status says what
// the rotation waits for. Each step is idempotent; a crash between two is
// resumed from the Secrets.

// Rotation reasons, for events and the CredentialsRotated condition.
const (
	ReasonRotating      = "RotatingCredentials"
	ReasonRotated       = "CredentialsRotated"
	ReasonRotationStuck = "RotationStuck"
)

// RotationPoll is how often a rotation that waits for pods or sessions of the
// previous credentials looks again: the operator does not watch pods, and the
// Deployment's status no longer changes while old pods terminate.
const RotationPoll = 5 * time.Second

// previous reads the previous credentials of service p during a rotation:
// nil when none rotates. It reads the API server, not the cache: a cache
// that has not seen the Secret yet would make the previous credentials look
// unused, and Ensure would take them from pods that still use them.
func (r *ApplicationReconciler) previous(ctx context.Context, app *plattrv1.Application, service string) (*corev1.Secret, error) {
	var s corev1.Secret
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: app.Namespace, Name: plattrv1.PreviousSecretName(app.Name, service)}, &s)
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read the previous credentials of %s: %w", service, err)
	case !metav1.IsControlledBy(&s, app):
		return nil, nil // not Plattr's: never read, never taken over
	}
	return &s, nil
}

// credentialStatus is st's entry for service, made (since now) when absent.
func credentialStatus(st *status, service string) *plattrv1.CredentialStatus {
	if c := findCredential(st, service); c != nil {
		return c
	}
	st.Credentials = append(st.Credentials, plattrv1.CredentialStatus{Service: service, Since: metav1.NewTime(time.Now().Truncate(time.Second))})
	slices.SortFunc(st.Credentials, func(a, b plattrv1.CredentialStatus) int {
		if a.Service < b.Service {
			return -1
		}
		return 1
	})
	return findCredential(st, service)
}

// dropCredentialStatus forgets a service the app no longer uses.
func dropCredentialStatus(st *status, service string) {
	st.Credentials = slices.DeleteFunc(st.Credentials, func(c plattrv1.CredentialStatus) bool { return c.Service == service })
}

// startRotation begins step 1 when spec.credentials.rotate asks for a
// rotation the service has not had, and returns the credentials the pods are
// to get (current, or the new ones).
func (r *ApplicationReconciler) startRotation(ctx context.Context, app *plattrv1.Application, inst services.Instance, p services.Provisioner,
	prev *corev1.Secret, current services.Credentials, st *status) (services.Credentials, *corev1.Secret, error) {
	entry := credentialStatus(st, p.Name())
	want := ""
	if app.Spec.Credentials != nil {
		want = app.Spec.Credentials.Rotate
	}
	every := app.Spec.Credentials.RotateEvery()
	if prev != nil && maps.EqualFunc(prev.Data, current, bytes.Equal) {
		// Cut before the pods got new credentials: start again.
		if err := r.Delete(ctx, prev); err != nil && !apierrors.IsNotFound(err) {
			return nil, prev, fmt.Errorf("delete the previous credentials of %s: %w", p.Name(), err)
		}
		prev = nil
		entry.Rotated, entry.Rotating = "", false
	}
	if prev != nil {
		// Under way (a crash before the status said so, too).
		entry.Rotating = true
		if want != "" && entry.Rotated == "" {
			entry.Rotated = want
		}
		return current, prev, nil
	}
	asked := want != "" && want != entry.Rotated
	due := every > 0 && !time.Now().Before(entry.Since.Add(every))
	if !asked && !due {
		return current, prev, nil
	}
	rot, ok := p.(services.Rotator)
	if !ok {
		entry.Message = fmt.Sprintf("%s cannot rotate its credentials with no failed login yet: they are kept", p.Name())
		return current, prev, nil
	}
	if !asked {
		want = entry.Rotated // a scheduled rotation leaves the spec's token as carried out
	}
	// The previous credentials are kept first: whatever happens next, they
	// stay valid until retired.
	keep := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: plattrv1.PreviousSecretName(app.Name, p.Name()), Namespace: app.Namespace, Labels: labels(app)},
		Type:       corev1.SecretTypeOpaque,
		Data:       current,
	}
	if err := controllerutil.SetControllerReference(app, keep, r.Scheme()); err != nil {
		return nil, nil, err
	}
	if err := r.Create(ctx, keep); err != nil {
		return nil, nil, fmt.Errorf("keep the previous credentials of %s: %w", p.Name(), err)
	}
	withPrev := inst
	withPrev.Previous = current
	next, err := rot.Rotate(ctx, withPrev, current)
	if err != nil {
		return nil, keep, fmt.Errorf("%s: rotate credentials: %w", p.Name(), err)
	}
	secret, _, err := r.secret(ctx, app, SecretName(app.Name, p.Name()), true)
	if err != nil {
		return nil, keep, err
	}
	if err := r.writeSecret(ctx, app, SecretName(app.Name, p.Name()), secret, next); err != nil {
		return nil, keep, err
	}
	entry.Rotated, entry.Rotating = want, true
	rotations.WithLabelValues(p.Name(), "started").Inc()
	entry.Message = "new credentials handed out; the previous ones stay valid until every pod has restarted"
	ctrl.LoggerFrom(ctx).Info("rotating credentials", "service", p.Name(), "rotation", want)
	r.Recorder.Eventf(app, corev1.EventTypeNormal, ReasonRotating, "Rotating the credentials of %s (%q): the pods restart with new ones", p.Name(), want)
	return next, keep, nil
}

// finishRotations does step 3 for every service whose rotation is under way,
// once no pod of the app runs with other Secrets than secretsHash's.
func (r *ApplicationReconciler) finishRotations(ctx context.Context, app *plattrv1.Application, inst services.Instance, secrets serviceSecrets, st *status) error {
	var errs []error
	var waiting []wait
	defer func() { r.reportRotations(app, st, waiting) }()
	for _, p := range r.Services {
		entry := findCredential(st, p.Name())
		if entry == nil || !entry.Rotating || !p.Enabled(&app.Spec) {
			continue
		}
		rot, ok := p.(services.Rotator)
		if !ok {
			continue
		}
		prev := secrets.previous[p.Name()]
		if prev == nil {
			entry.Rotating, entry.Message = false, ""
			continue
		}
		old, err := r.podsWithOtherSecrets(ctx, app, SecretsHash(secrets.data))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if old > 0 {
			entry.Message = fmt.Sprintf("waiting for %d pod(s) still running with the previous credentials; both stay valid", old)
			waiting = append(waiting, wait{p.Name(), prev.CreationTimestamp.Time, entry.Message})
			continue
		}
		current := secrets.data[SecretName(app.Name, p.Name())]
		err = rot.Retire(ctx, inst, current, prev.Data)
		switch {
		case errors.Is(err, services.ErrInUse):
			entry.Message = "waiting for the sessions of the previous credentials to end; both stay valid"
			waiting = append(waiting, wait{p.Name(), prev.CreationTimestamp.Time, entry.Message})
			continue
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: retire the previous credentials: %w", p.Name(), err))
			continue
		}
		if err := r.Delete(ctx, prev); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete the previous credentials of %s: %w", p.Name(), err))
			continue
		}
		entry.Rotating, entry.Message, entry.Since = false, "", metav1.NewTime(time.Now().Truncate(time.Second))
		rotations.WithLabelValues(p.Name(), "completed").Inc()
		ctrl.LoggerFrom(ctx).Info("credentials rotated", "service", p.Name(), "rotation", entry.Rotated)
		r.Recorder.Eventf(app, corev1.EventTypeNormal, ReasonRotated, "Rotated the credentials of %s (%q): the previous ones no longer log in", p.Name(), entry.Rotated)
	}
	return errors.Join(errs...)
}

// wait is a rotation waiting for the previous credentials to be unused,
// since the previous Secret was made (the rotation's start).
type wait struct {
	service string
	since   time.Time
	what    string
}

// reportRotations sets the CredentialsRotated condition: False while
// rotations wait (RotationStuck when one has waited past the rotation
// deadline), True once none does; absent until the app's first rotation. A
// waiting rotation is looked at again after RotationPoll. Each service's
// rotation is counted stuck once, when it passes the deadline (its status
// message then says so), and a Warning event names the services that just
// did: the services of one rotation may pass it a reconcile apart.
func (r *ApplicationReconciler) reportRotations(app *plattrv1.Application, st *status, waiting []wait) {
	rotating := slices.ContainsFunc(st.Credentials, func(c plattrv1.CredentialStatus) bool { return c.Rotating })
	switch {
	case len(waiting) > 0:
		st.wakeAt(time.Now().Add(RotationPoll))
		deadline := cmp.Or(r.Config.RotationDeadline, DefaultRotationDeadline)
		var stuck, newly, whats, msgs []string
		var since time.Time
		for _, w := range waiting {
			msgs = append(msgs, w.service+": "+w.what)
			if time.Since(w.since) <= deadline {
				continue
			}
			stuck = append(stuck, w.service)
			if entry := findCredential(st, w.service); entry != nil {
				entry.Message = stuckMessage(deadline, w.what)
			}
			if before := findCredential(&status{ApplicationStatus: app.Status}, w.service); before == nil || !strings.HasPrefix(before.Message, stuckMessage(deadline, "")) {
				newly = append(newly, w.service)
			}
			if !slices.Contains(whats, w.what) {
				whats = append(whats, w.what)
			}
			if since.IsZero() || w.since.Before(since) {
				since = w.since
			}
		}
		if len(stuck) == 0 {
			st.set(app, plattrv1.ConditionCredentialsRotated, false, ReasonRotating, strings.Join(msgs, "; "))
			return
		}
		msg := fmt.Sprintf("the rotation of %s, started %s, has waited longer than %s: %s. Finish or roll back the rollout, or end the sessions: nothing is retired until then",
			strings.Join(stuck, ", "), since.UTC().Format(time.RFC3339), deadline, strings.Join(whats, "; "))
		if len(newly) > 0 {
			r.Recorder.Event(app, corev1.EventTypeWarning, ReasonRotationStuck, msg)
			for _, s := range newly {
				rotations.WithLabelValues(s, "stuck").Inc()
			}
		}
		st.set(app, plattrv1.ConditionCredentialsRotated, false, ReasonRotationStuck, msg)
	case rotating:
		st.set(app, plattrv1.ConditionCredentialsRotated, false, ReasonRotating, "handing out new credentials")
	case st.condition(plattrv1.ConditionCredentialsRotated) != nil || slices.ContainsFunc(st.Credentials, func(c plattrv1.CredentialStatus) bool { return c.Rotated != "" }):
		st.set(app, plattrv1.ConditionCredentialsRotated, true, ReasonRotated, "no rotation under way: only the current credentials log in")
	}
}

// scheduleRotations sets each service's next rotation from its credentials'
// age and spec.credentials.every, once the reconcile's rotations are done,
// and asks for a reconcile then.
func scheduleRotations(app *plattrv1.Application, st *status) {
	every := app.Spec.Credentials.RotateEvery()
	for i := range st.Credentials {
		c := &st.Credentials[i]
		c.Next = nil
		if every > 0 {
			next := metav1.NewTime(c.Since.Add(every))
			c.Next = &next
			st.wakeAt(next.Time)
		}
	}
}

// stuckMessage is a service's status message once its rotation has waited
// past the deadline for what; its start, with what empty, tells that an
// earlier reconcile already reported it.
func stuckMessage(deadline time.Duration, what string) string {
	return fmt.Sprintf("stuck for longer than %s: %s", deadline, what)
}

func findCredential(st *status, service string) *plattrv1.CredentialStatus {
	for i := range st.Credentials {
		if st.Credentials[i].Service == service {
			return &st.Credentials[i]
		}
	}
	return nil
}

// podsWithOtherSecrets counts the app's pods (terminating ones included)
// whose template carries another Secrets hash than hash: they may still use
// previous credentials. Read from the API server: pods are not cached.
func (r *ApplicationReconciler) podsWithOtherSecrets(ctx context.Context, app *plattrv1.Application, hash string) (int, error) {
	var pods corev1.PodList
	if err := r.APIReader.List(ctx, &pods, client.InNamespace(app.Namespace), client.MatchingLabels(selector(app))); err != nil {
		return 0, fmt.Errorf("read the pods of %s: %w", app.Name, err)
	}
	n := 0
	for _, p := range pods.Items {
		if p.Annotations[annotationSecrets] != hash && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			n++
		}
	}
	return n, nil
}

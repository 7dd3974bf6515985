package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/services"
)

// SecretName is the Secret a service writes for an app: "<app>-<service>".
func SecretName(app, service string) string { return plattrv1.ServiceSecretName(app, service) }

// serviceSecrets are the Secrets of the enabled services, in the services' order,
// and their data (for the pods' restart hash).
type serviceSecrets struct {
	names []string
	data  map[string]map[string][]byte
	// previous holds, by service, the Secret of the credentials before a
	// rotation under way (read from the API server once per reconcile).
	previous map[string]*corev1.Secret
}

// reconcileServices runs every backing service through the same contract: observe;
// ensure when not up to date; write its Secret; or, once disabled, remove what it
// made (per the deletion policy). It returns the Secrets for the workload.
func (r *ApplicationReconciler) reconcileServices(ctx context.Context, app *plattrv1.Application, inst services.Instance, st *status) (serviceSecrets, error) {
	out := serviceSecrets{data: map[string]map[string][]byte{}, previous: map[string]*corev1.Secret{}}
	var errs []error
	for _, p := range r.Services {
		name := SecretName(app.Name, p.Name())
		enabled := p.Enabled(&app.Spec)
		if !enabled {
			dropCredentialStatus(st, p.Name())
		}
		if enabled {
			out.names = append(out.names, name)
		}
		// During a rotation, the previous credentials stay valid (Rotator).
		svcInst := inst
		var prev *corev1.Secret
		if _, ok := p.(services.Rotator); ok && enabled {
			var err error
			if prev, err = r.previous(ctx, app, p.Name()); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if prev != nil {
			svcInst.Previous = prev.Data
		}
		data, err := r.reconcileService(ctx, app, svcInst, p, enabled, prev != nil, st)
		if err == nil && enabled && data != nil {
			data, prev, err = r.startRotation(ctx, app, svcInst, p, prev, data, st)
		}
		if prev != nil {
			out.previous[p.Name()] = prev
		}
		if err != nil {
			errs = append(errs, err)
		}
		if data != nil {
			out.data[name] = data
		}
	}
	return out, errors.Join(errs...)
}

// During a rotation (rotating) the Secret is read from the API server: the
// cache may still hold the credentials before it.
func (r *ApplicationReconciler) reconcileService(ctx context.Context, app *plattrv1.Application, inst services.Instance,
	p services.Provisioner, enabled, rotating bool, st *status) (map[string][]byte, error) {
	log := ctrl.LoggerFrom(ctx).WithValues("service", p.Name())
	name := SecretName(app.Name, p.Name())
	secret, owned, err := r.secret(ctx, app, name, enabled)
	if err == nil && rotating && secret != nil {
		var live corev1.Secret
		if err = r.APIReader.Get(ctx, client.ObjectKeyFromObject(secret), &live); err == nil {
			secret = &live
		} else {
			err = fmt.Errorf("read secret %q: %w", name, err)
		}
	}
	if err != nil {
		return nil, err
	}
	if !enabled {
		st.remove(p.Condition())
		if secret == nil || !owned {
			return nil, nil
		}
		return nil, r.disable(ctx, app, inst, p, secret)
	}
	if secret != nil && !owned {
		st.stalled = true
		st.set(app, p.Condition(), false, ReasonSecretConflict,
			fmt.Sprintf("Secret %q exists and is not managed by Plattr: rename or delete it", name))
		return nil, reconcile.TerminalError(fmt.Errorf("secret %q is not managed by Plattr", name))
	}
	var current services.Credentials
	if secret != nil {
		if err := r.takeBack(ctx, app, secret); err != nil {
			return nil, err
		}
		current = secret.Data
	}
	ok, err := p.Observe(ctx, inst, current)
	if err == nil && ok {
		st.set(app, p.Condition(), true, ReasonProvisioned, p.Name()+" is provisioned")
		return secret.Data, nil
	}
	if err == nil {
		var creds services.Credentials
		start := time.Now()
		creds, err = p.Ensure(ctx, inst, current)
		observeEnsure(p.Name(), start, err)
		if err == nil {
			if err = r.writeSecret(ctx, app, name, secret, creds); err == nil {
				log.Info("provisioned", "secret", name)
				r.Recorder.Eventf(app, corev1.EventTypeNormal, ReasonProvisioned, "Provisioned %s; credentials in Secret %s", p.Name(), name)
				st.set(app, p.Condition(), true, ReasonProvisioned, p.Name()+" is provisioned")
				return creds, nil
			}
		}
	}
	err = fmt.Errorf("%s: %w", p.Name(), err)
	switch {
	case errors.Is(err, services.ErrNotConfigured):
		serviceErrors.WithLabelValues(p.Name(), ReasonNotConfigured).Inc()
		st.stalled = true
		st.set(app, p.Condition(), false, ReasonNotConfigured, errors.Unwrap(err).Error())
		return nil, reconcile.TerminalError(err)
	case errors.Is(err, services.ErrInvalid):
		serviceErrors.WithLabelValues(p.Name(), ReasonInvalid).Inc()
		st.stalled = true
		st.set(app, p.Condition(), false, ReasonInvalid, errors.Unwrap(err).Error())
		return nil, reconcile.TerminalError(err)
	}
	serviceErrors.WithLabelValues(p.Name(), ReasonProvisioningFailed).Inc()
	st.set(app, p.Condition(), false, ReasonProvisioningFailed, errors.Unwrap(err).Error()+" (retrying)")
	r.Recorder.Eventf(app, corev1.EventTypeWarning, ReasonProvisioningFailed, "%v", err)
	return nil, err
}

// secret reads the Secret name: nil when absent; owned when Plattr manages it
// for this app (see ownsSecret). The cache holds only Secrets Plattr manages;
// with live, a Secret missing from it is looked up on the API server too, to find
// someone else's in the way before provisioning. Without live (a disabled
// service, deletion) only Plattr's own Secrets matter, and the cache answers alone.
func (r *ApplicationReconciler) secret(ctx context.Context, app *plattrv1.Application, name string, live bool) (*corev1.Secret, bool, error) {
	var s corev1.Secret
	key := client.ObjectKey{Namespace: app.Namespace, Name: name}
	err := r.Get(ctx, key, &s)
	if apierrors.IsNotFound(err) && live && r.APIReader != nil {
		err = r.APIReader.Get(ctx, key, &s)
	}
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read secret %q: %w", name, err)
	}
	return &s, ownsSecret(&s, app), nil
}

// ownsSecret says whether s is one Plattr made for app: by its labels, not by an
// owner reference. Service Secrets carry no owner reference, so that the garbage
// collector (a foreground deletion by Argo CD's prune included) never removes
// the credentials of data that deletionPolicy Retain keeps: the finalizer
// deletes them under Delete, and labels them retained under Retain.
func ownsSecret(s *corev1.Secret, app *plattrv1.Application) bool {
	return s.Labels[LabelManagedBy] == ManagedBy && s.Labels[plattrv1.LabelApp] == app.Name
}

// appOfSecret maps a service Secret to its Application, for the watch.
func appOfSecret(_ context.Context, o client.Object) []reconcile.Request {
	app := o.GetLabels()[plattrv1.LabelApp]
	if app == "" || o.GetLabels()[LabelManagedBy] != ManagedBy {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: o.GetNamespace(), Name: app}}}
}

// takeBack makes a retained Secret (of an earlier Application of this name, see
// plattrv1.LabelRetained) the app's again: its credentials are the data's.
func (r *ApplicationReconciler) takeBack(ctx context.Context, app *plattrv1.Application, s *corev1.Secret) error {
	if _, retained := s.Labels[plattrv1.LabelRetained]; !retained {
		return nil
	}
	patch := client.MergeFrom(s.DeepCopy())
	delete(s.Labels, plattrv1.LabelRetained)
	if err := r.Patch(ctx, s, patch); err != nil {
		return fmt.Errorf("take back retained secret %q: %w", s.Name, err)
	}
	ctrl.LoggerFrom(ctx).Info("took back retained credentials", "secret", s.Name)
	r.Recorder.Eventf(app, corev1.EventTypeNormal, "TookBack", "Took back the retained Secret %s of an earlier %s", s.Name, app.Name)
	return nil
}

func (r *ApplicationReconciler) writeSecret(ctx context.Context, app *plattrv1.Application, name string, existing *corev1.Secret, data services.Credentials) error {
	if existing != nil {
		patch := client.MergeFrom(existing.DeepCopy())
		existing.Data = data
		if err := r.Patch(ctx, existing, patch); err != nil {
			return fmt.Errorf("update secret %q: %w", name, err)
		}
		return nil
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: app.Namespace, Labels: labels(app)},
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}
	if err := r.Create(ctx, s); err != nil {
		if apierrors.IsAlreadyExists(err) {
			// Not in our cache, which holds only Plattr's Secrets: someone else's.
			return fmt.Errorf("secret %q exists and is not managed by Plattr: %w", name, services.ErrInvalid)
		}
		return fmt.Errorf("create secret %q: %w", name, err)
	}
	return nil
}

// disable removes what a service that the Application no longer asks for made:
// its data when the deletion policy is Delete, and its Secret in any case.
func (r *ApplicationReconciler) disable(ctx context.Context, app *plattrv1.Application, inst services.Instance, p services.Provisioner, secret *corev1.Secret) error {
	if app.Spec.DeletesData() {
		deleted, err := r.deleteData(ctx, app, inst, p)
		if err != nil {
			return err
		}
		if deleted {
			r.Recorder.Eventf(app, corev1.EventTypeNormal, "Deleted", "Disabled %s: its data was deleted (deletionPolicy Delete)", p.Name())
		}
	} else {
		r.Recorder.Eventf(app, corev1.EventTypeNormal, "Retained", "Disabled %s: its data is kept (deletionPolicy Retain)", p.Name())
	}
	if err := r.Delete(ctx, secret); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete secret %q: %w", secret.Name, err)
	}
	return nil
}

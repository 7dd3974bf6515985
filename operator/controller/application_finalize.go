package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/services"
)

// finalize runs when an Application is deleted: with deletionPolicy Delete every
// backing service it used is removed, data included, and its Secrets with it;
// with Retain the data stays and an event says so. Then the finalizer goes.
// Deleting twice is harmless: every step treats "already gone" as success.
func (r *ApplicationReconciler) finalize(ctx context.Context, app *plattrv1.Application, inst services.Instance) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(app, Finalizer) {
		return ctrl.Result{}, nil
	}
	log := ctrl.LoggerFrom(ctx)
	var used []services.Provisioner
	for _, p := range r.Services {
		secret, owned, err := r.secret(ctx, app, SecretName(app.Name, p.Name()), false)
		if err != nil {
			return ctrl.Result{}, err
		}
		if p.Enabled(&app.Spec) || (secret != nil && owned) {
			used = append(used, p)
		}
	}
	if app.Spec.DeletesData() {
		var errs []error
		st := newStatus(app)
		for _, p := range used {
			if _, err := r.deleteData(ctx, app, inst, p); err != nil {
				errs = append(errs, err)
				st.set(app, p.Condition(), false, ReasonDeleteFailed, err.Error()+" (retrying)")
				continue
			}
			if err := r.deleteSecret(ctx, app, SecretName(app.Name, p.Name())); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			// The finalizer stays until every service's data is gone; the status
			// says what holds the deletion (the backend being down, say).
			st.set(app, plattrv1.ConditionReady, false, ReasonDeleting, "deleting: waiting to remove the data of the backing services (deletionPolicy Delete)")
			r.Recorder.Eventf(app, corev1.EventTypeWarning, ReasonDeleteFailed, "Cannot remove backing services yet: %v", err)
			return ctrl.Result{}, errors.Join(err, r.patchStatus(ctx, app, st))
		}
		if len(used) > 0 {
			log.Info("deleted backing services", "services", names(used))
			r.Recorder.Eventf(app, corev1.EventTypeNormal, "Deleted", "Deleted %s (deletionPolicy Delete)", names(used))
		}
	} else if len(used) > 0 {
		for _, p := range used {
			if err := r.retainSecret(ctx, app, SecretName(app.Name, p.Name())); err != nil {
				return ctrl.Result{}, err
			}
		}
		log.Info("retained backing services", "services", names(used))
		r.Recorder.Eventf(app, corev1.EventTypeNormal, "Retained", "Kept the data of %s and the Secrets to reach it (deletionPolicy Retain)", names(used))
	}
	r.retireDeployment(ctx, app)
	patch := client.MergeFrom(app.DeepCopy())
	controllerutil.RemoveFinalizer(app, Finalizer)
	if err := r.Patch(ctx, app, patch); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("remove finalizer: %w", err)
	}
	policy := plattrv1.DeletionPolicyRetain
	if app.Spec.DeletesData() {
		policy = plattrv1.DeletionPolicyDelete
	}
	deletions.WithLabelValues(string(policy)).Inc()
	return ctrl.Result{}, nil
}

func (r *ApplicationReconciler) deleteSecret(ctx context.Context, app *plattrv1.Application, name string) error {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: app.Namespace}}
	if err := r.Delete(ctx, s); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete secret %q: %w", name, err)
	}
	return nil
}

// retainSecret keeps a service's Secret past its Application: labelled
// retained, and without an owner reference to the Application (Secrets made
// before they stopped carrying one still may), so the garbage collector leaves
// it and an Application of the same name takes it back.
func (r *ApplicationReconciler) retainSecret(ctx context.Context, app *plattrv1.Application, name string) error {
	s, owned, err := r.secret(ctx, app, name, false)
	if err != nil || s == nil || !owned {
		return err
	}
	refs := slices.DeleteFunc(slices.Clone(s.OwnerReferences), func(o metav1.OwnerReference) bool { return o.UID == app.UID })
	if s.Labels[plattrv1.LabelRetained] == "true" && len(refs) == len(s.OwnerReferences) {
		return nil
	}
	patch := client.MergeFrom(s.DeepCopy())
	s.Labels[plattrv1.LabelRetained] = "true"
	s.OwnerReferences = refs
	if err := r.Patch(ctx, s, patch); err != nil {
		return fmt.Errorf("retain secret %q: %w", name, err)
	}
	return nil
}

func names(ps []services.Provisioner) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name()
	}
	return strings.Join(out, ", ")
}

// deleteData removes what p made for the app and says whether it did. A service
// this operator cannot reach (NotConfigured) or that refuses the app for good
// (Invalid) made nothing there: a Warning event says so and the removal goes on,
// rather than holding the Application's deletion or the disabling forever.
func (r *ApplicationReconciler) deleteData(ctx context.Context, app *plattrv1.Application, inst services.Instance, p services.Provisioner) (bool, error) {
	bctx, cancel := r.backends(ctx)
	defer cancel()
	err := p.Delete(bctx, inst)
	if errors.Is(err, services.ErrNotConfigured) || errors.Is(err, services.ErrInvalid) {
		r.Recorder.Eventf(app, corev1.EventTypeWarning, "NotDeleted", "Did not delete %s: %v", p.Name(), err)
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("delete %s: %w", p.Name(), err)
	}
	return true, nil
}

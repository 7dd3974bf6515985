package controller

import (
	"context"
	"errors"
	"fmt"
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
	if app.Spec.DeletionPolicy == plattrv1.DeletionPolicyDelete {
		var errs []error
		for _, p := range used {
			if _, err := r.deleteData(ctx, app, inst, p); err != nil {
				errs = append(errs, err)
				continue
			}
			if err := r.deleteSecret(ctx, app, SecretName(app.Name, p.Name())); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			r.Recorder.Eventf(app, corev1.EventTypeWarning, "DeleteFailed", "Cannot remove backing services yet: %v", err)
			return ctrl.Result{}, err
		}
		if len(used) > 0 {
			log.Info("deleted backing services", "services", names(used))
			r.Recorder.Eventf(app, corev1.EventTypeNormal, "Deleted", "Deleted %s (deletionPolicy Delete)", names(used))
		}
	} else if len(used) > 0 {
		log.Info("retained backing services", "services", names(used))
		r.Recorder.Eventf(app, corev1.EventTypeNormal, "Retained", "Kept the data of %s (deletionPolicy Retain)", names(used))
	}
	patch := client.MergeFrom(app.DeepCopy())
	controllerutil.RemoveFinalizer(app, Finalizer)
	if err := r.Patch(ctx, app, patch); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("remove finalizer: %w", err)
	}
	return ctrl.Result{}, nil
}

func (r *ApplicationReconciler) deleteSecret(ctx context.Context, app *plattrv1.Application, name string) error {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: app.Namespace}}
	if err := r.Delete(ctx, s); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete secret %q: %w", name, err)
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
	err := p.Delete(ctx, inst)
	if errors.Is(err, services.ErrNotConfigured) || errors.Is(err, services.ErrInvalid) {
		r.Recorder.Eventf(app, corev1.EventTypeWarning, "NotDeleted", "Did not delete %s: %v", p.Name(), err)
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("delete %s: %w", p.Name(), err)
	}
	return true, nil
}

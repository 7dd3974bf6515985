package controller

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	networkingv1 "k8s.io/api/networking/v1"

	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/services"
)

// reconcileWorkload applies the desired workload, skipping every object whose
// recorded hash matches, removes the Ingress and PDB when no longer wanted, and
// reports WorkloadReady from the Deployment's status.
//
// An app with a release phase rolls out only once the spec's image's release
// command succeeded (reconcileRelease): until then the Deployment is left as
// it is, and its previous pods keep serving.
func (r *ApplicationReconciler) reconcileWorkload(ctx context.Context, app *plattrv1.Application, inst services.Instance, secrets serviceSecrets, servicesReady bool, st *status) error {
	if err := r.reconcileExternalSecret(ctx, app, inst.Env, &secrets); err != nil {
		st.set(app, plattrv1.ConditionWorkloadReady, false, ReasonApplyFailed, err.Error())
		return err
	}
	d := DesiredWorkload(app, inst.Host, secrets.names, SecretsHash(secrets.data), r.Config.Workload)
	// The release Job runs as the app's ServiceAccount.
	if err := r.apply(ctx, app, d.ServiceAccount); err != nil {
		st.set(app, plattrv1.ConditionWorkloadReady, false, ReasonApplyFailed, err.Error())
		return err
	}
	held, relErr := r.reconcileRelease(ctx, app, secrets, servicesReady, st)
	if inst.Host != "" && ingressEnabled(app) {
		st.URL = "https://" + inst.Host
		if r.Config.Workload.ClusterIssuer == "" {
			st.URL = "http://" + inst.Host
		}
	} else {
		st.URL = ""
	}
	for _, o := range d.objects() {
		if o == client.Object(d.ServiceAccount) || held && o == client.Object(d.Deployment) {
			continue // applied above; held for the release phase
		}
		if err := r.apply(ctx, app, o); err != nil {
			st.set(app, plattrv1.ConditionWorkloadReady, false, ReasonApplyFailed, err.Error())
			return errors.Join(relErr, err)
		}
	}
	if d.Ingress == nil {
		if err := r.deleteIfOwned(ctx, app, &networkingv1.Ingress{}, app.Name); err != nil {
			return err
		}
	}
	if d.PDB == nil {
		if err := r.deleteIfOwned(ctx, app, &policyv1.PodDisruptionBudget{}, app.Name); err != nil {
			return err
		}
	}
	var dep appsv1.Deployment
	err := r.Get(ctx, client.ObjectKeyFromObject(d.Deployment), &dep)
	switch {
	case held && apierrors.IsNotFound(err):
		st.set(app, plattrv1.ConditionWorkloadReady, false, ReasonReleasePending, "the first rollout waits for the release phase")
		return relErr
	case err != nil:
		return errors.Join(relErr, fmt.Errorf("read deployment: %w", err))
	case held:
		st.set(app, plattrv1.ConditionWorkloadReady, false, ReasonReleasePending,
			fmt.Sprintf("the rollout waits for the release phase; the previous release keeps serving (%d available)", dep.Status.AvailableReplicas))
		return relErr
	}
	ok, reason, msg := deploymentReady(&dep, replicas(app))
	st.set(app, plattrv1.ConditionWorkloadReady, ok, reason, msg)
	return relErr
}

// deploymentReady reads a Deployment's rollout: every replica updated and
// available, at the current generation.
func deploymentReady(dep *appsv1.Deployment, want int32) (bool, string, string) {
	if want == 0 {
		return true, ReasonScaledToZero, "scaled to zero replicas"
	}
	if dep.Status.ObservedGeneration < dep.Generation {
		return false, ReasonProgressing, "the Deployment's new spec is not observed yet"
	}
	s := dep.Status
	if s.UpdatedReplicas < want || s.AvailableReplicas < want || s.Replicas > s.UpdatedReplicas {
		msg := fmt.Sprintf("%d/%d replicas updated, %d available", s.UpdatedReplicas, want, s.AvailableReplicas)
		// Why a pod cannot even be made (the namespace's quota, an
		// admission policy) is on the Deployment: say it here.
		for _, c := range s.Conditions {
			if c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue {
				msg += ": " + c.Message
			}
		}
		return false, ReasonProgressing, msg
	}
	for _, c := range s.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
			return true, ReasonAvailable, fmt.Sprintf("%d/%d replicas available", s.AvailableReplicas, want)
		}
	}
	return false, ReasonProgressing, "the Deployment is not Available yet"
}

// apply server-side-applies o, owned by app, unless the object in the cache
// already carries the same desired hash and nobody changed its spec since this
// operator applied it (its generation moved): steady state makes no write, and a
// hand edit of a Deployment is undone.
func (r *ApplicationReconciler) apply(ctx context.Context, app *plattrv1.Application, o client.Object) error {
	current := o.DeepCopyObject().(client.Object)
	err := r.Get(ctx, client.ObjectKeyFromObject(o), current)
	switch {
	case err == nil && current.GetAnnotations()[annotationDesired] == o.GetAnnotations()[annotationDesired] &&
		metav1.IsControlledBy(current, app) && !r.editedSince(current):
		return nil
	case err != nil && !apierrors.IsNotFound(err):
		return fmt.Errorf("read %s %q: %w", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
	}
	if err := controllerutil.SetControllerReference(app, o, r.Scheme()); err != nil {
		return err
	}
	// Server-side apply of a typed object: Client.Apply would need apply configurations.
	if err := r.Patch(ctx, o, client.Apply, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("apply %s %q: %w", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
	}
	r.applied.Store(o.GetUID(), o.GetGeneration())
	return nil
}

// editedSince says whether an object's spec changed since this operator applied
// it. Unknown (applied before a restart) counts as unchanged: no write at startup.
func (r *ApplicationReconciler) editedSince(o client.Object) bool {
	g, ok := r.applied.Load(o.GetUID())
	return ok && g.(int64) != o.GetGeneration()
}

func (r *ApplicationReconciler) deleteIfOwned(ctx context.Context, app *plattrv1.Application, o client.Object, name string) error {
	err := r.Get(ctx, client.ObjectKey{Namespace: app.Namespace, Name: name}, o)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !metav1.IsControlledBy(o, app) {
		return nil
	}
	if err := r.Delete(ctx, o); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete %T %q: %w", o, o.GetName(), err)
	}
	return nil
}

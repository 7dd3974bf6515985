package controller

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

// ExternalSecretGVK is External Secrets Operator's ExternalSecret, which makes
// an app's <app>-external Secret from its keys in the platform's secret store.
var ExternalSecretGVK = schema.GroupVersionKind{Group: "external-secrets.io", Version: "v1", Kind: "ExternalSecret"}

// DefaultSecretStore is the ClusterSecretStore of the apps' own secrets when
// the operator is not told another (PLATTR_SECRET_STORE).
const DefaultSecretStore = "plattr"

// DesiredExternalSecret is the ExternalSecret of app's externalSecrets in env
// (nil when it has none): each key is composed here, under the app's own
// prefix plattr/<env>/<app>/, so nothing in the Application can name another
// app's secret. The Secret it makes carries the app's labels, so the operator
// sees it change and restarts the pods.
func DesiredExternalSecret(app *plattrv1.Application, env, store string) *unstructured.Unstructured {
	if len(app.Spec.ExternalSecrets) == 0 {
		return nil
	}
	if store == "" {
		store = DefaultSecretStore
	}
	var data []any
	for _, e := range app.Spec.ExternalSecrets {
		data = append(data, map[string]any{"secretKey": e.Name,
			"remoteRef": map[string]any{"key": plattrv1.ExternalSecretPath(env, app.Name, e.Key)}})
	}
	secretLabels := map[string]any{}
	for k, v := range labels(app) {
		secretLabels[k] = v
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"spec": map[string]any{
			"refreshInterval": "1h",
			"secretStoreRef":  map[string]any{"kind": "ClusterSecretStore", "name": store},
			"target": map[string]any{
				"name": plattrv1.ExternalSecretName(app.Name), "creationPolicy": "Owner", "deletionPolicy": "Delete",
				"template": map[string]any{"metadata": map[string]any{"labels": secretLabels}},
			},
			"data": data,
		},
	}}
	u.SetGroupVersionKind(ExternalSecretGVK)
	u.SetName(plattrv1.ExternalSecretName(app.Name))
	u.SetNamespace(app.Namespace)
	u.SetLabels(labels(app))
	setDesiredHash(u)
	return u
}

// hadExternalSecrets says whether the app's Deployment takes variables from
// its <app>-external Secret, that is, whether it had externalSecrets when the
// operator last applied it.
func (r *ApplicationReconciler) hadExternalSecrets(ctx context.Context, app *plattrv1.Application) (bool, error) {
	var dep appsv1.Deployment
	err := r.Get(ctx, client.ObjectKey{Namespace: app.Namespace, Name: app.Name}, &dep)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read deployment: %w", err)
	}
	for _, c := range dep.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == plattrv1.ExternalSecretName(app.Name) {
				return true, nil
			}
		}
	}
	return false, nil
}

// reconcileExternalSecret applies the app's ExternalSecret, or deletes the one
// it had, and adds the data of the Secret it made (once External Secrets
// Operator has) to secrets' hash.
func (r *ApplicationReconciler) reconcileExternalSecret(ctx context.Context, app *plattrv1.Application, env string, secrets *serviceSecrets) error {
	desired := DesiredExternalSecret(app, env, r.Config.Workload.SecretStore)
	if desired == nil {
		// ExternalSecrets are read around the cache (it holds no unstructured
		// kinds, and External Secrets Operator may not be installed): look only
		// when the app's Deployment, from the cache, shows it had some.
		if had, err := r.hadExternalSecrets(ctx, app); !had || err != nil {
			return err
		}
		current := &unstructured.Unstructured{}
		current.SetGroupVersionKind(ExternalSecretGVK)
		err := r.deleteIfOwned(ctx, app, current, plattrv1.ExternalSecretName(app.Name))
		if meta.IsNoMatchError(err) {
			return nil // External Secrets Operator is not installed: nothing of it to remove
		}
		return err
	}
	if err := r.apply(ctx, app, desired); err != nil {
		if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
			return fmt.Errorf("the app has externalSecrets, but the cluster has no External Secrets Operator (external-secrets.io/v1 ExternalSecret): %w", err)
		}
		return err
	}
	var s corev1.Secret
	err := r.Get(ctx, client.ObjectKey{Namespace: app.Namespace, Name: plattrv1.ExternalSecretName(app.Name)}, &s)
	if apierrors.IsNotFound(err) {
		return nil // not made yet: the pods wait for it (their variables name it)
	}
	if err != nil {
		return fmt.Errorf("read secret %q: %w", plattrv1.ExternalSecretName(app.Name), err)
	}
	if secrets.data == nil {
		secrets.data = map[string]map[string][]byte{}
	}
	secrets.data[s.Name] = s.Data
	return nil
}

package controller_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plattr/plattr/internal/testenv"
	"github.com/plattr/plattr/operator"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/controller"
)

// An app's own secrets: the operator makes its ExternalSecret with every key
// under the app's prefix, hands the variables to the container from the Secret
// External Secrets Operator makes, restarts the pods when that Secret changes
// and removes the ExternalSecret when the app no longer asks. External Secrets
// Operator itself cannot run here (it reads AWS); the test makes its Secret as it
// would, from the ExternalSecret's target.
func TestApplication_ExternalSecrets(t *testing.T) {
	c := testenv.StartCluster(t)
	ns := envNamespace(t, c)
	startOperator(t, c, ns, operator.Config{})
	ctx := context.Background()
	app := newApp(ns, "test-own-secrets", func(a *plattrv1.Application) {
		a.Spec.Database = nil
		a.Spec.ExternalSecrets = []plattrv1.ExternalSecretVar{{Name: "STRIPE_KEY", Key: "stripe/api-key"}}
	})
	require.NoError(t, c.Client.Create(ctx, app))
	t.Cleanup(func() { deleteAndWait(t, c, app) })

	es := &unstructured.Unstructured{}
	es.SetGroupVersionKind(controller.ExternalSecretGVK)
	key := client.ObjectKey{Namespace: ns, Name: "test-own-secrets-external"}
	testenv.Eventually(t, 30*time.Second, "the ExternalSecret", func() (bool, error) {
		err := c.Client.Get(ctx, key, es)
		return err == nil, client.IgnoreNotFound(err)
	})
	data, _, _ := unstructured.NestedSlice(es.Object, "spec", "data")
	require.Len(t, data, 1)
	remoteKey, _, _ := unstructured.NestedString(data[0].(map[string]any), "remoteRef", "key")
	assert.Equal(t, "plattr/plattr/test-own-secrets/stripe/api-key", remoteKey, "the operator adds the app's prefix")
	assert.Equal(t, "STRIPE_KEY", data[0].(map[string]any)["secretKey"])
	store, _, _ := unstructured.NestedString(es.Object, "spec", "secretStoreRef", "name")
	assert.Equal(t, controller.DefaultSecretStore, store)
	labels, _, _ := unstructured.NestedStringMap(es.Object, "spec", "target", "template", "metadata", "labels")
	assert.Equal(t, "test-own-secrets", labels[plattrv1.LabelApp])
	assert.True(t, metav1.IsControlledBy(es, mustGet(t, c, app)), "owned by the Application: it goes with it")

	var dep appsv1.Deployment
	testenv.Eventually(t, 30*time.Second, "the Deployment", func() (bool, error) {
		err := c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: app.Name}, &dep)
		return err == nil, client.IgnoreNotFound(err)
	})
	assert.Contains(t, dep.Spec.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: "STRIPE_KEY", ValueFrom: &corev1.EnvVarSource{
		SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "test-own-secrets-external"}, Key: "STRIPE_KEY"}}})

	// External Secrets Operator's part: the Secret, labelled from the template.
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: key.Name, Labels: labels}, Data: map[string][]byte{"STRIPE_KEY": []byte("sk_test_1")}}
	require.NoError(t, c.Client.Create(ctx, secret))
	first := podHash(t, c, ns, app.Name, "")
	secretPatch := client.MergeFrom(secret.DeepCopy())
	secret.Data["STRIPE_KEY"] = []byte("sk_test_2")
	require.NoError(t, c.Client.Patch(ctx, secret, secretPatch))
	podHash(t, c, ns, app.Name, first)

	// No longer asked for: the ExternalSecret goes.
	got := mustGet(t, c, app)
	patch := client.MergeFrom(got.DeepCopy()) // a merge patch: the operator writes the status meanwhile
	got.Spec.ExternalSecrets = nil
	require.NoError(t, c.Client.Patch(ctx, got, patch))
	testenv.Eventually(t, 30*time.Second, "the ExternalSecret to go", func() (bool, error) {
		err := c.Client.Get(ctx, key, es)
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
}

func mustGet(t *testing.T, c *testenv.Cluster, app *plattrv1.Application) *plattrv1.Application {
	t.Helper()
	got := &plattrv1.Application{}
	require.NoError(t, c.Client.Get(context.Background(), client.ObjectKeyFromObject(app), got))
	return got
}

// podHash waits until the pods' secrets hash is set and differs from not, and returns it.
func podHash(t *testing.T, c *testenv.Cluster, ns, name, not string) string {
	t.Helper()
	var hash string
	testenv.Eventually(t, 30*time.Second, "the pods' secrets hash to change from "+not, func() (bool, error) {
		var dep appsv1.Deployment
		if err := c.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &dep); err != nil {
			return false, err
		}
		hash = dep.Spec.Template.Annotations["plattr.dev/secrets-hash"]
		return hash != "" && hash != not, nil
	})
	return hash
}

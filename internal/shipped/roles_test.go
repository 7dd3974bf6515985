package shipped

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	argov1 "github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"

	"github.com/plattr/plattr/internal/testenv"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

// Kubernetes' edit role in a namespace (what an EKS access entry with
// AmazonEKSEditPolicy scoped to prod gives the hub's Argo CD on a spoke)
// manages Plattr Applications there, through bases/operator's aggregated
// roles; view reads them and changes nothing.
func TestAggregatedRoles(t *testing.T) {
	c := testenv.StartCluster(t)
	c.StartWorkloads(t) // kube-controller-manager aggregates the roles
	for _, o := range testenv.Kustomize(t, filesys.MakeFsOnDisk(), filepath.Join(repoRoot(t), "bases", "operator")) {
		if o.GetKind() == "ClusterRole" && strings.HasPrefix(o.GetName(), "plattr-application-") {
			c.Apply(t, "plattr-shipped-test", o)
		}
	}
	ctx := context.Background()
	ns := c.Namespace(t, "prod")
	as := func(user, role string) client.Client {
		rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user, Namespace: ns},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: user}}}
		require.NoError(t, c.Client.Create(ctx, rb))
		cfg := rest.CopyConfig(c.Config)
		cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
		cl, err := client.New(cfg, client.Options{Scheme: c.Scheme})
		require.NoError(t, err)
		return cl
	}
	editor, viewer := as("argocd-deployer", "edit"), as("auditor", "view")
	app := func() *plattrv1.Application {
		return &plattrv1.Application{ObjectMeta: metav1.ObjectMeta{Name: "hello", Namespace: ns},
			Spec: plattrv1.ApplicationSpec{Image: "registry.example.com/hello@sha256:" + strings.Repeat("a", 64)}}
	}
	var err error
	testenv.Eventually(t, 30*time.Second, "edit to cover Plattr Applications", func() (bool, error) {
		err = editor.Create(ctx, app(), client.DryRunAll)
		return err == nil, err
	})
	require.NoError(t, editor.Create(ctx, app()))
	var list plattrv1.ApplicationList
	testenv.Eventually(t, 30*time.Second, "view to cover Plattr Applications", func() (bool, error) {
		err = viewer.List(ctx, &list, client.InNamespace(ns))
		return err == nil, err
	})
	assert.Len(t, list.Items, 1)
	err = viewer.Delete(ctx, app())
	assert.True(t, apierrors.IsForbidden(err), "view may not delete: %v", err)
	other := c.Namespace(t, "staging")
	a := app()
	a.Namespace = other
	err = editor.Create(ctx, a)
	assert.True(t, apierrors.IsForbidden(err), "edit in prod gives nothing in another namespace: %v", err)
}

// The rollback controller's account (bases/rollbacks) reads and patches Argo
// CD's Applications in Argo CD's namespace, holds its lease, and can do
// nothing else: no Secret (Argo CD's hold cluster credentials), no other
// namespace.
func TestRollbacksRole(t *testing.T) {
	c := testenv.StartCluster(t)
	ctx := context.Background()
	require.NoError(t, c.EnsureNamespace(ctx, testenv.ArgoCDNamespace))
	for _, o := range testenv.Kustomize(t, filesys.MakeFsOnDisk(), filepath.Join(repoRoot(t), "bases", "rollbacks")) {
		if o.GetKind() == "Role" || o.GetKind() == "RoleBinding" || o.GetKind() == "ServiceAccount" {
			c.Apply(t, "plattr-shipped-test", o)
		}
	}
	cfg := rest.CopyConfig(c.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + testenv.ArgoCDNamespace + ":plattr-rollbacks"}
	sa, err := client.New(cfg, client.Options{Scheme: c.Scheme})
	require.NoError(t, err)
	app := &argov1.Application{ObjectMeta: metav1.ObjectMeta{Name: "staging-hello-rbac", Namespace: testenv.ArgoCDNamespace},
		Spec: argov1.ApplicationSpec{Project: "default", Source: &argov1.ApplicationSource{RepoURL: "https://example.com/env.git", Path: "envs/staging/hello"},
			Destination: argov1.ApplicationDestination{Server: "https://kubernetes.default.svc", Namespace: "staging"}}}
	require.NoError(t, c.Client.Create(ctx, app))
	t.Cleanup(func() { _ = c.Client.Delete(ctx, app) })

	var apps argov1.ApplicationList
	require.NoError(t, sa.List(ctx, &apps, client.InNamespace(testenv.ArgoCDNamespace)))
	patch := client.MergeFrom(app.DeepCopy())
	app.Annotations = map[string]string{"plattr.dev/rollback-pull-request": "https://github.com/acme/env/pull/1"}
	require.NoError(t, sa.Patch(ctx, app, patch), "patch an Application")
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "plattr-rollbacks.plattr.dev", Namespace: testenv.ArgoCDNamespace}}
	require.NoError(t, sa.Create(ctx, lease), "its leader election")
	t.Cleanup(func() { _ = c.Client.Delete(ctx, lease) })

	forbidden := map[string]error{
		"read Argo CD's Secrets": sa.List(ctx, &corev1.SecretList{}, client.InNamespace(testenv.ArgoCDNamespace)),
		"delete an Application":  sa.Delete(ctx, app),
		"create an Application": sa.Create(ctx, &argov1.Application{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: testenv.ArgoCDNamespace},
			Spec: app.Spec}),
		"list Applications elsewhere": sa.List(ctx, &argov1.ApplicationList{}, client.InNamespace("default")),
		"read AppProjects":            sa.List(ctx, &argov1.AppProjectList{}, client.InNamespace(testenv.ArgoCDNamespace)),
	}
	for what, err := range forbidden {
		assert.True(t, apierrors.IsForbidden(err), "%s: %v", what, err)
	}
}

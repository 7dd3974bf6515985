package testenv

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Kustomize builds the kustomization in dir of fsys in process and returns its
// objects, failing the test with the folder when it does not build.
func Kustomize(t testing.TB, fsys filesys.FileSystem, dir string) []*unstructured.Unstructured {
	t.Helper()
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fsys, dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var objs []*unstructured.Unstructured
	for _, r := range res.Resources() {
		data, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(data); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, u)
	}
	return objs
}

// Apply applies objs for real with server-side apply, as `kubectl apply
// --server-side` does, creating the namespaces they name first.
func (c *Cluster) Apply(t testing.TB, fieldOwner string, objs ...*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		if err := c.ApplyObject(context.Background(), fieldOwner, o); err != nil {
			t.Fatalf("apply %s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
	}
}

// ApplyObject server-side-applies one object (a copy of it, without managed
// fields), creating its namespace for real first; opts such as client.DryRunAll
// go to the apply.
func (c *Cluster) ApplyObject(ctx context.Context, fieldOwner string, o *unstructured.Unstructured, opts ...client.PatchOption) error {
	if ns := o.GetNamespace(); ns != "" {
		if err := c.EnsureNamespace(ctx, ns); err != nil {
			return err
		}
	}
	obj := o.DeepCopy()
	obj.SetManagedFields(nil)
	opts = append(opts, client.FieldOwner(fieldOwner), client.ForceOwnership)
	return c.Client.Patch(ctx, obj, client.Apply, opts...)
}

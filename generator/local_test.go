package generator

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/plattr/plattr/generator/manifest"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

func TestLocal_IsReleasePlusEnvPatch(t *testing.T) {
	m, err := manifest.Parse("plattr.yaml", []byte(`name: shop
port: 3000
env: {LOG_LEVEL: debug}
resources:
  requests: {cpu: 100m, memory: 128Mi}
  limits: {memory: 256Mi}
database: {enabled: true, extensions: [pgcrypto]}
redis: {enabled: true}
environments:
  local:
    replicas: 2
    resources:
      requests: {memory: 64Mi}
`))
	require.NoError(t, err)
	img, err := ParseImage("shop:local", true)
	require.NoError(t, err)

	app, err := Local(m, img, "local")
	require.NoError(t, err)
	assert.Equal(t, "shop", app.Name)
	assert.Equal(t, "local", app.Namespace)
	assert.Equal(t, plattrv1.Kind, app.Kind)
	assert.Equal(t, "shop:local", app.Spec.Image)
	assert.Equal(t, int32(3000), app.Spec.Port)
	assert.Equal(t, []plattrv1.EnvVar{{Name: "LOG_LEVEL", Value: "debug"}}, app.Spec.Env)
	require.NotNil(t, app.Spec.Replicas)
	assert.Equal(t, int32(2), *app.Spec.Replicas, "environments.local.replicas, as a first env.yaml would set")
	assert.Equal(t, plattrv1.DeletionPolicyRetain, app.Spec.DeletionPolicy)
	require.NotNil(t, app.Spec.Database)
	assert.Equal(t, []string{"pgcrypto"}, app.Spec.Database.Extensions)
	assert.True(t, app.Spec.Redis.Enabled)
	// kustomize merges env.yaml's resources into release.yaml's, key by key.
	req := app.Spec.Resources.Requests
	assert.True(t, req.Memory().Equal(resource.MustParse("64Mi")), "env.yaml's memory request wins: %s", req.Memory())
	assert.True(t, req.Cpu().Equal(resource.MustParse("100m")), "release.yaml's cpu request stays: %s", req.Cpu())
	require.NotNil(t, app.Spec.Ingress)
	assert.Empty(t, app.Spec.Ingress.Host, "the operator derives the host from its base domain")

	plain, err := manifest.Parse("plattr.yaml", []byte("name: shop\n"))
	require.NoError(t, err)
	app, err = Local(plain, Image{}, "dev")
	require.NoError(t, err)
	assert.Equal(t, int32(8080), app.Spec.Port)
	assert.Equal(t, int32(1), *app.Spec.Replicas)
	assert.Nil(t, app.Spec.Database)
	assert.Nil(t, app.Spec.Resources)
}

func TestLocal_RefusesBadEnvironment(t *testing.T) {
	m, err := manifest.Parse("plattr.yaml", []byte("name: shop\n"))
	require.NoError(t, err)
	for env, want := range map[string]string{
		"Local":   "invalid environment name",
		"preview": "reserved",
		"":        "must not be empty",
	} {
		_, err := Local(m, Image{}, env)
		require.Error(t, err, env)
		assert.Contains(t, err.Error(), want, env)
	}
}

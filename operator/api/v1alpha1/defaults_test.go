package v1alpha1

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

func TestDefaultHost(t *testing.T) {
	assert.Equal(t, "shop.staging.apps.example.com", DefaultHost("shop", "staging", "apps.example.com", false))
	assert.Equal(t, "shop.apps.example.com", DefaultHost("shop", "prod", "apps.example.com", true))
	assert.Equal(t, "shop-pr-7.preview.apps.example.com", DefaultHost("shop-pr-7", "preview", "apps.example.com", false))
	assert.Empty(t, DefaultHost("shop", "staging", "", false), "no base domain, no host")
}

// The API server fills in the port the generator and the operator assume.
func TestDefaultPort_IsTheCRDs(t *testing.T) {
	data, err := os.ReadFile("../../../bases/crds/plattr.dev_applications.yaml")
	require.NoError(t, err)
	var crd struct {
		Spec struct {
			Versions []struct {
				Schema struct {
					OpenAPIV3Schema struct {
						Properties struct {
							Spec struct {
								Properties map[string]struct {
									Default any `json:"default"`
								} `json:"properties"`
							} `json:"spec"`
						} `json:"properties"`
					} `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	require.NoError(t, yaml.Unmarshal(data, &crd))
	require.Len(t, crd.Spec.Versions, 1)
	assert.EqualValues(t, DefaultPort, crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties.Spec.Properties["port"].Default)
}

func TestExpandEnv(t *testing.T) {
	env := map[string]string{"A": "1", "URL": "postgres://u:p@h/db"}
	for in, want := range map[string]string{
		"$(A)":            "1",
		"x$(A)y$(URL)":    "x1ypostgres://u:p@h/db",
		"$(MISSING)":      "$(MISSING)",
		"$$(A)":           "$(A)",
		"$A and $":        "$A and $",
		"$(unterminated":  "$(unterminated",
		"price: $$5 $(A)": "price: $5 1",
	} {
		assert.Equal(t, want, ExpandEnv(in, env), in)
	}
}

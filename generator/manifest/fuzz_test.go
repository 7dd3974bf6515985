package manifest

import (
	"testing"

	"github.com/plattr/plattr/generator/names"
)

// FuzzParse: no input makes the loader panic, and every manifest it accepts has
// a valid application name.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{"name: a\n", "name: a\nenv:\n  X: 1\n", "name: [\n", "- a\n- b\n", "name: &x a\nport: *x\n",
		"name: a\nenvironments:\n  prod:\n    replicas: 3\n", "name: a\nresources:\n  limits: {cpu: 1}\n", "{}", "name: ../x"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse("plattr.yaml", data)
		if err != nil {
			return
		}
		if err := names.App(m.Name); err != nil {
			t.Fatalf("accepted a manifest with name %q: %v", m.Name, err)
		}
	})
}

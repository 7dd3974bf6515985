package manifest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/plattr/plattr/generator/names"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

// SchemaID is where editors fetch plattr.yaml's JSON Schema: the first line of
// a plattr.yaml, "# yaml-language-server: $schema=<SchemaID>", points
// yaml-language-server (VS Code's YAML extension, Neovim, Helix) at it.
const SchemaID = "https://raw.githubusercontent.com/plattr/plattr/main/docs/plattr.schema.json"

// SchemaModeline is the comment that points editors at the schema.
const SchemaModeline = "# yaml-language-server: $schema=" + SchemaID

// Schema is plattr.yaml's JSON Schema (draft 2020-12), made from Manifest's
// fields and the loader's own rules (patterns, ranges, reserved names), so the
// two cannot drift: a document the loader accepts, the schema accepts. The
// loader checks more than a schema can say (Kubernetes quantities, a path left
// empty); docs maps "Type.Field" to its description (the Go comments, read by
// make generate).
func Schema(docs map[string]string) ([]byte, error) {
	s := schemaOf(reflect.TypeFor[Manifest](), "", docs)
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	s["$id"] = SchemaID
	s["title"] = "plattr.yaml"
	s["description"] = "An application's Plattr manifest: what it runs and which backing services it gets."
	s["required"] = []string{"name"}
	s["properties"].(map[string]any)["name"].(map[string]any)["maxLength"] = names.MaxAppLen
	out, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// anyScalar is what the loader takes for a string: any scalar, read as text
// (cpu: 1, PORT: 8080), or nothing (the default).
var anyScalar = []string{"string", "number", "boolean", "null"}

// patterns are the loader's patterns of strings, by field path ("[]" a list's items).
var patterns = map[string]string{
	"name":                  names.DNS1035,
	"healthCheck.path":      urlPathPattern,
	"database.extensions[]": extensionPattern,
	"auth.redirectPaths[]":  urlPathPattern,
	"secrets.*":             plattrv1.ExternalSecretKeyPattern,
}

func schemaOf(t reflect.Type, path string, docs map[string]string) map[string]any {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	s := map[string]any{}
	switch t.Kind() {
	case reflect.Struct:
		s["type"] = []string{"object", "null"}
		s["additionalProperties"] = false
		props := map[string]any{}
		for i := range t.NumField() {
			f := t.Field(i)
			key := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if !f.IsExported() || key == "" || key == "-" {
				continue
			}
			p := schemaOf(f.Type, join(path, key), docs)
			if d := docs[t.Name()+"."+f.Name]; d != "" {
				p["description"] = d
			}
			props[key] = p
		}
		s["properties"] = props
	case reflect.Map:
		s["type"] = []string{"object", "null"}
		s["additionalProperties"] = schemaOf(t.Elem(), join(path, "*"), docs)
		switch path {
		case "env", "secrets":
			reserved := make([]string, 0, len(plattrv1.InjectedEnv))
			for k := range plattrv1.InjectedEnv {
				reserved = append(reserved, k)
			}
			sort.Strings(reserved)
			s["propertyNames"] = map[string]any{"pattern": envVarPattern, "not": map[string]any{"enum": reserved}}
		case "environments":
			s["propertyNames"] = map[string]any{"pattern": names.DNS1035, "maxLength": names.MaxEnvLen}
		}
	case reflect.Slice:
		s["type"] = []string{"array", "null"}
		s["items"] = schemaOf(t.Elem(), path+"[]", docs)
		if path == "dev.command" || path == "release.command" {
			s["minItems"] = 1
		}
	case reflect.String:
		s["type"] = anyScalar
		if p, ok := patterns[path]; ok {
			s["pattern"] = p
		}
		if path == "secrets.*" {
			s["maxLength"] = plattrv1.MaxExternalSecretKeyLen
		}
	case reflect.Bool:
		s["type"] = []string{"boolean", "null"}
	case reflect.Int32:
		s["type"] = []string{"integer", "null"}
		r, ok := ranges[path]
		if !ok {
			panic(fmt.Sprintf("manifest: %s has no range", path)) // a bug: every number has one
		}
		s["minimum"], s["maximum"] = min(r[0], 0), r[1] // zero: the default, where a range starts at 1
	default:
		panic(fmt.Sprintf("manifest: no schema for %s (%s)", path, t)) // a bug, as in decode
	}
	return s
}

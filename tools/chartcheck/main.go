// Command chartcheck renders Plattr's Helm chart in process with Helm's own Go
// module, as `helm template` would, and prints the objects as YAML. It is a
// module of its own (Helm brings newer Kubernetes modules than the operator's),
// used by the chart's tests in this module and by internal/release's test that
// applies the rendered chart to an API server.
//
// Usage: go run . [-chart DIR] [-namespace NS] [-set-json KEY=JSON]...
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

type setFlags map[string]string

func (s setFlags) String() string { return "" }
func (s setFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok {
		return fmt.Errorf("-set-json takes KEY=JSON, got %q", v)
	}
	s[k] = val
	return nil
}

func main() {
	chartDir := flag.String("chart", "../../charts/plattr-operator", "the chart's folder")
	namespace := flag.String("namespace", "plattr-system", "the release's namespace")
	sets := setFlags{}
	flag.Var(sets, "set-json", "a value, as a dotted key and JSON (repeatable), e.g. image.digest=\"sha256:…\"")
	flag.Parse()
	values, err := valuesFrom(sets)
	if err == nil {
		var out string
		out, err = Render(*chartDir, *namespace, values)
		fmt.Print(out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "chartcheck:", err)
		os.Exit(1)
	}
}

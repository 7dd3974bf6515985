package controller

import (
	"fmt"
	"strings"

	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/services"
)

// validate refuses what the API server's schema cannot: a spec that would reach
// across the tenant boundary. Every check is on the spec alone (env.yaml is a
// person's patch, so the release file's checks in plattr-gen are not enough):
//   - env and secretEnv may not set a variable the operator injects from a
//     service's Secret (plattrv1.InjectedEnv): the app's env would win over it;
//   - secretEnv may not read another app's service Secret ("<app>-<service>"):
//     apps of one environment share a namespace, so a name is all it takes.
func validate(app *plattrv1.Application, provs []services.Provisioner) error {
	for i, e := range app.Spec.Env {
		if svc, ok := plattrv1.InjectedEnv[e.Name]; ok {
			return fmt.Errorf("spec.env[%d].name: %s is set by Plattr from the %s service's Secret; remove it", i, e.Name, svc)
		}
	}
	for i, e := range app.Spec.SecretEnv {
		if svc, ok := plattrv1.InjectedEnv[e.Name]; ok {
			return fmt.Errorf("spec.secretEnv[%d].name: %s is set by Plattr from the %s service's Secret; remove it", i, e.Name, svc)
		}
		for _, p := range provs {
			if strings.HasSuffix(e.SecretName, "-"+p.Name()) && e.SecretName != SecretName(app.Name, p.Name()) {
				return fmt.Errorf("spec.secretEnv[%d].secretName: %q is the name of another app's %s Secret; an app reads only its own (names ending in -%s are Plattr's)",
					i, e.SecretName, p.Name(), p.Name())
			}
		}
	}
	return nil
}

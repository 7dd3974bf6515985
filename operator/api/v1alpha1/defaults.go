package v1alpha1

// Defaults that the generator (what it renders), the operator (what it runs)
// and the CRD (what the API server fills in) must agree on: one place each.

// DefaultPort is the container port of an Application that names none. The
// CRD's +kubebuilder:default on Port must say the same (a test checks it).
const DefaultPort int32 = 8080

// DefaultProductionEnv is the production environment's name when the operator
// is not told another (--production-env).
const DefaultProductionEnv = "prod"

// DefaultHost is the host an app (a preview: "<app>-pr-<n>") is served at in
// an environment when it names none: <app>.<baseDomain> in production,
// <app>.<env>.<baseDomain> elsewhere; "" without a base domain.
func DefaultHost(app, env, baseDomain string, production bool) string {
	if baseDomain == "" {
		return ""
	}
	if production {
		return app + "." + baseDomain
	}
	return app + "." + env + "." + baseDomain
}

// PreviewEnv is the environment of pull request previews: their GitHub
// deployments are transient environments named for the preview.
// generator/names.PreviewEnv must say the same (a test checks it); names cannot
// import this package.
const PreviewEnv = "preview"

// HostOf is the host app is served at in env: its ingress host, else
// DefaultHost. The operator serves it there, and plans say so.
func HostOf(app *Application, env, baseDomain string, production bool) string {
	if app.Spec.Ingress != nil && app.Spec.Ingress.Host != "" {
		return app.Spec.Ingress.Host
	}
	return DefaultHost(app.Name, env, baseDomain, production)
}

// DeletesData says whether the data of a backing service the spec no longer
// asks for (or of every service, when the Application is deleted) is deleted:
// deletionPolicy Delete. Retain, the default, keeps it.
func (s *ApplicationSpec) DeletesData() bool { return s.DeletionPolicy == DeletionPolicyDelete }

package v1alpha1

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

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

// Release phase bounds: the timeout of a release command when it names none,
// and the range it may name.
const (
	DefaultReleaseTimeout = 10 * time.Minute
	MinReleaseTimeout     = time.Second
	MaxReleaseTimeout     = 6 * time.Hour
)

// ReleaseTimeout is how long r's command may run.
func (r *ReleaseSpec) ReleaseTimeout() time.Duration {
	if r.Timeout == nil || r.Timeout.Duration == 0 {
		return DefaultReleaseTimeout
	}
	return r.Timeout.Duration
}

// CheckRelease refuses a release phase the operator would not run: an empty
// command, or a timeout outside MinReleaseTimeout..MaxReleaseTimeout.
func CheckRelease(r *ReleaseSpec) error {
	if r == nil {
		return nil
	}
	if len(r.Command) == 0 || strings.TrimSpace(r.Command[0]) == "" {
		return fmt.Errorf("release.command: must name the command to run (a list, such as [\"./migrate\", \"up\"])")
	}
	if t := r.ReleaseTimeout(); t < MinReleaseTimeout || t > MaxReleaseTimeout {
		return fmt.Errorf("release.timeout: %s is outside %s..%s", t, MinReleaseTimeout, MaxReleaseTimeout)
	}
	return nil
}

// releaseJobHash is how many hex digits of the image's SHA-256 name its
// release Job.
const releaseJobHash = 8

// ReleaseJobName is the Job that runs app's release command for image: one
// name per image, so a digest's command runs once. It fits the 63 characters
// of a Job's name (its pods carry it as a label): a longer app name is cut.
func ReleaseJobName(app, image string) string {
	sum := sha256.Sum256([]byte(image))
	suffix := "-rel-" + hex.EncodeToString(sum[:])[:releaseJobHash]
	if max := 63 - len(suffix); len(app) > max {
		app = strings.TrimRight(app[:max], "-")
	}
	return app + suffix
}

// ExpandEnv replaces $(VAR) in s with VAR's value when env sets it, and $$
// with $: Kubernetes' expansion of a container's command, arguments and
// variables, which `plattr dev` and the test ground apply as a kubelet does.
func ExpandEnv(s string, env map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '(':
			if end := strings.IndexByte(s[i+2:], ')'); end >= 0 {
				if v, ok := env[s[i+2:i+2+end]]; ok {
					b.WriteString(v)
					i += 2 + end
					continue
				}
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ParseDuration reads a duration people write in Plattr's files: Go's (90m,
// 36h, 1h30m) or whole days (1d, 90d), at most 366 days. Gates (soak, freeze
// windows) and credential rotation read durations with it.
func ParseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 366 {
			return 0, fmt.Errorf("%q is not a duration such as 30m, 2h or 1d", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d > 366*24*time.Hour {
		return 0, fmt.Errorf("%q is not a duration such as 30m, 2h or 1d", s)
	}
	return d, nil
}

// MinRotationInterval is the shortest credentials.every: a rotation rolls
// every pod of the app.
const MinRotationInterval = time.Hour

// RotateEvery is how often the credentials rotate on their own (0: never).
func (c *CredentialsSpec) RotateEvery() time.Duration {
	if c == nil || c.Every == "" {
		return 0
	}
	d, _ := ParseDuration(c.Every) // checked by CheckCredentials
	return d
}

// CheckCredentials refuses a rotation schedule the operator would not keep.
func CheckCredentials(c *CredentialsSpec) error {
	if c == nil {
		return nil
	}
	if err := CheckRotationInterval(c.Every); err != nil {
		return fmt.Errorf("spec.credentials.every: %w", err)
	}
	return nil
}

// CheckRotationInterval is the rule for a credentials.every wherever it is
// written (an Application, plattr-env.yaml): empty (never), or a duration of
// at least MinRotationInterval. The caller names the field.
func CheckRotationInterval(every string) error {
	if every == "" {
		return nil
	}
	d, err := ParseDuration(every)
	if err != nil {
		return err
	}
	if d < MinRotationInterval {
		return fmt.Errorf("%s is shorter than %gh (each rotation restarts every pod of the app)", every, MinRotationInterval.Hours())
	}
	return nil
}

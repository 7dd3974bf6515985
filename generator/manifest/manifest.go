// Package manifest loads plattr.yaml, the one file a developer's repository holds
// to describe an application. It owns the file's schema and its error messages:
// every mistake is reported with the file, line, field and what is allowed.
//
// It must not render, write files or know about environments beyond the names of
// the per-environment defaults.
package manifest

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plattr/plattr/generator/names"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

// FileName is the manifest's file name in an application's repository.
const FileName = "plattr.yaml"

// Manifest is the content of plattr.yaml.
type Manifest struct {
	// Name of the application: a DNS-1035 label of at most 40 characters.
	Name string `yaml:"name"`
	// Port the container listens on (default 8080).
	Port int32 `yaml:"port"`
	// Replicas, default 1; usually set per environment.
	Replicas *int32 `yaml:"replicas"`
	// Env holds plain environment variables (never secrets).
	Env map[string]string `yaml:"env"`
	// Secrets maps variables to the app's own secrets in the platform's secret
	// store, by key under plattr/<env>/<app>/ (API_KEY: stripe/api-key): the
	// values never enter git.
	Secrets map[string]string `yaml:"secrets"`
	// HealthCheck configures the HTTP probes.
	HealthCheck *HealthCheck `yaml:"healthCheck"`
	// Resources are the container's requests and limits.
	Resources *Resources `yaml:"resources"`
	// Database asks for a PostgreSQL database and role.
	Database *Database `yaml:"database"`
	// Redis asks for a Redis ACL user confined to the app's key prefix.
	Redis *Toggle `yaml:"redis"`
	// Search asks for an OpenSearch index prefix, role and user.
	Search *Toggle `yaml:"search"`
	// Auth asks for a Keycloak OIDC client.
	Auth *Auth `yaml:"auth"`
	// Release is the release phase: a command (schema migrations) run once per
	// image, with the app's environment and backing services, before that
	// image's pods roll out; `plattr dev` runs it before the app.
	Release *Release `yaml:"release"`
	// Environments holds per-environment defaults, used when an environment's
	// env.yaml is first written ("preview" applies to pull request previews).
	Environments map[string]Overrides `yaml:"environments"`
	// Dev is how the app runs on a developer's machine (`plattr dev`); the
	// cluster never reads it.
	Dev *Dev `yaml:"dev"`

	file  string
	lines map[string]int
}

// HealthCheck configures the HTTP probes.
type HealthCheck struct {
	// Path probed over HTTP for readiness and liveness (default /).
	Path string `yaml:"path"`
	// InitialDelaySeconds before the first probe (0 to 600).
	InitialDelaySeconds int32 `yaml:"initialDelaySeconds"`
	// PeriodSeconds between probes (1 to 300; default 10, Kubernetes' own).
	PeriodSeconds int32 `yaml:"periodSeconds"`
}

// Resources are compute requests and limits.
type Resources struct {
	// Requests are what the scheduler reserves for the container.
	Requests *Quantities `yaml:"requests"`
	// Limits are what the container may not exceed.
	Limits *Quantities `yaml:"limits"`
}

// Quantities are Kubernetes quantities ("250m", "512Mi").
type Quantities struct {
	// CPU as a Kubernetes quantity: 250m, 1.
	CPU string `yaml:"cpu"`
	// Memory as a Kubernetes quantity: 512Mi, 1Gi.
	Memory string `yaml:"memory"`
}

// Toggle is a backing service with no options.
type Toggle struct {
	// Enabled provisions the service for the app.
	Enabled bool `yaml:"enabled"`
}

// Database asks for PostgreSQL.
type Database struct {
	// Enabled provisions the app's database and role.
	Enabled bool `yaml:"enabled"`
	// Extensions to create in the database (those the server allows).
	Extensions []string `yaml:"extensions"`
}

// Auth asks for an OIDC client.
type Auth struct {
	// Enabled provisions the app's OIDC client.
	Enabled bool `yaml:"enabled"`
	// RedirectPaths are the app's OIDC callback paths on its host.
	RedirectPaths []string `yaml:"redirectPaths"`
}

// Release is the release phase.
type Release struct {
	// Command is the program and its arguments, without a shell (["./migrate",
	// "up"]); $(VAR) expands from the app's environment.
	Command []string `yaml:"command"`
	// Timeout is how long it may run: a duration from 1s to 6h, such as 10m
	// (the default).
	Timeout string `yaml:"timeout"`
}

// Dev configures `plattr dev`.
type Dev struct {
	// Command runs the app locally, program then arguments (["npm", "run", "dev"]),
	// without a shell.
	Command []string `yaml:"command"`
}

// Overrides are the defaults of one environment.
type Overrides struct {
	// Replicas in this environment (0 to 100).
	Replicas *int32 `yaml:"replicas"`
	// Resources in this environment.
	Resources *Resources `yaml:"resources"`
}

// Error is a mistake in plattr.yaml, located by file, line and field.
type Error struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Field == "" {
		return loc + ": " + e.Msg
	}
	return fmt.Sprintf("%s: %s: %s", loc, e.Field, e.Msg)
}

// MaxFileSize bounds plattr.yaml: far more than any app needs, and small
// enough that a hostile file costs milliseconds, not minutes.
const MaxFileSize = 128 << 10

// Load reads and validates a plattr.yaml file. It must be a regular file (a
// FIFO or a device could block or never end) of at most MaxFileSize bytes.
func Load(path string) (*Manifest, error) {
	data, err := readRegular(path, MaxFileSize)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// readRegular reads a regular file of at most limit bytes. It opens without
// blocking (a FIFO would wait for a writer) and checks what it opened, so the
// file cannot be swapped between the check and the read.
func readRegular(path string, limit int64) ([]byte, error) {
	// O_NOFOLLOW: a symbolic link could point outside the app's repository (at a
	// file whose values an error message would then quote).
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, &Error{File: path, Msg: "is a symbolic link: plattr.yaml must be a regular file in the app's repository"}
	}
	if err != nil {
		return nil, fmt.Errorf("read app manifest: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read app manifest: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, &Error{File: path, Msg: fmt.Sprintf("is %s, not a regular file: plattr.yaml must be a file", kindOf(st.Mode()))}
	}
	if st.Size() > limit {
		return nil, &Error{File: path, Msg: fmt.Sprintf("is %d bytes, more than the %d allowed", st.Size(), limit)}
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read app manifest: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, &Error{File: path, Msg: fmt.Sprintf("is more than the %d bytes allowed", limit)}
	}
	return data, nil
}

// kindOf names a file's type for a message.
func kindOf(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	case m&os.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "not a regular file"
}

// Parse decodes and validates plattr.yaml content; file names the source in errors.
func Parse(file string, data []byte) (*Manifest, error) {
	if len(data) > MaxFileSize {
		return nil, &Error{File: file, Msg: fmt.Sprintf("is %d bytes, more than the %d allowed", len(data), MaxFileSize)}
	}
	m := &Manifest{file: file, lines: map[string]int{}}
	if err := decode(file, data, m, m.lines); err != nil {
		return nil, err
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// Errorf returns an Error located at field (a dotted path such as
// "environments.prod"); callers outside the package use it to report mistakes
// found against other inputs, such as an environment the env repo lacks.
func (m *Manifest) Errorf(field, format string, args ...any) error {
	return &Error{File: m.file, Line: m.lines[field], Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Enabled says which backing services the manifest asks for.
func (m *Manifest) Enabled() (database, redis, search, auth bool) {
	return m.Database != nil && m.Database.Enabled, m.Redis != nil && m.Redis.Enabled,
		m.Search != nil && m.Search.Enabled, m.Auth != nil && m.Auth.Enabled
}

// The rules plattr.yaml's loader checks and its JSON Schema states (Schema):
// patterns of names and ranges of numbers, by field path ("*" a map's values).
// Where a range starts at 1, zero (or no value) stands for the default.
const (
	envVarPattern    = `^[A-Za-z_][A-Za-z0-9_]*$`
	extensionPattern = `^[a-z][a-z0-9_]*$`
	urlPathPattern   = `^/[^*\s]*$`
)

var (
	envVarName = regexp.MustCompile(envVarPattern)
	extension  = regexp.MustCompile(extensionPattern)
	urlPath    = regexp.MustCompile(urlPathPattern)
	ranges     = map[string][2]int64{
		"port":                            {1, 65535},
		"replicas":                        {0, 100},
		"environments.*.replicas":         {0, 100},
		"healthCheck.initialDelaySeconds": {0, 600},
		"healthCheck.periodSeconds":       {1, 300},
	}
)

func (m *Manifest) validate() error {
	if m.Name == "" {
		return m.Errorf("name", "is required: the application's name (lower-case letters, digits, '-')")
	}
	if err := names.App(m.Name); err != nil {
		return m.Errorf("name", "%s", err.(*names.Error).Reason)
	}
	if err := m.checkRange("port", m.Port); err != nil {
		return err
	}
	if err := m.checkReplicas("replicas", "replicas", m.Replicas); err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(m.Env)) {
		if !envVarName.MatchString(k) {
			return m.Errorf("env."+k, "variable names are letters, digits and '_', not starting with a digit")
		}
		if svc, ok := plattrv1.InjectedEnv[k]; ok {
			return m.Errorf("env."+k, "is set by Plattr from the %s service's Secret; remove it", svc)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(m.Secrets)) {
		switch _, inEnv := m.Env[k]; {
		case !envVarName.MatchString(k):
			return m.Errorf("secrets."+k, "variable names are letters, digits and '_', not starting with a digit")
		case plattrv1.InjectedEnv[k] != "":
			return m.Errorf("secrets."+k, "is set by Plattr from the %s service's Secret; remove it", plattrv1.InjectedEnv[k])
		case inEnv:
			return m.Errorf("secrets."+k, "is also in env: a variable comes from one place")
		}
		if err := plattrv1.CheckExternalSecretKey(m.Secrets[k]); err != nil {
			return m.Errorf("secrets."+k, "%v", err)
		}
	}
	if hc := m.HealthCheck; hc != nil {
		if hc.Path != "" && !urlPath.MatchString(hc.Path) {
			return m.Errorf("healthCheck.path", "must be an absolute URL path such as /healthz, is %q", hc.Path)
		}
		if err := m.checkRange("healthCheck.initialDelaySeconds", hc.InitialDelaySeconds); err != nil {
			return err
		}
		if err := m.checkRange("healthCheck.periodSeconds", hc.PeriodSeconds); err != nil {
			return err
		}
	}
	if err := m.checkResources("resources", m.Resources); err != nil {
		return err
	}
	if m.Database != nil {
		for i, e := range m.Database.Extensions {
			if !extension.MatchString(e) {
				return m.Errorf(fmt.Sprintf("database.extensions[%d]", i), "extension names are lower-case letters, digits and '_', is %q", e)
			}
		}
	}
	if m.Auth != nil {
		for i, p := range m.Auth.RedirectPaths {
			if !urlPath.MatchString(p) {
				return m.Errorf(fmt.Sprintf("auth.redirectPaths[%d]", i), "must be a URL path starting with '/', without '*' or spaces, is %q", p)
			}
		}
	}
	if err := m.checkRelease(); err != nil {
		return err
	}
	if m.Dev != nil {
		if len(m.Dev.Command) == 0 {
			return m.Errorf("dev.command", "is required in dev: the program and its arguments, such as [npm, run, dev]")
		}
		if strings.TrimSpace(m.Dev.Command[0]) == "" {
			return m.Errorf("dev.command[0]", "must name the program to run, such as npm")
		}
	}
	for _, env := range slices.Sorted(maps.Keys(m.Environments)) {
		field := "environments." + env
		if env != names.PreviewEnv {
			if err := names.Env(env); err != nil {
				return m.Errorf(field, "%s", err.(*names.Error).Reason)
			}
		}
		o := m.Environments[env]
		if err := m.checkReplicas(field+".replicas", "environments.*.replicas", o.Replicas); err != nil {
			return err
		}
		if err := m.checkResources(field+".resources", o.Resources); err != nil {
			return err
		}
	}
	return nil
}

func (m *Manifest) checkReplicas(field, rule string, r *int32) error {
	if r == nil {
		return nil
	}
	return m.checkRangeOf(field, rule, *r)
}

// checkRange checks a number against its range in ranges (field is the rule's path).
func (m *Manifest) checkRange(field string, v int32) error { return m.checkRangeOf(field, field, v) }

func (m *Manifest) checkRangeOf(field, rule string, v int32) error {
	r := ranges[rule]
	if (int64(v) < r[0] && v != 0) || int64(v) > r[1] {
		return m.Errorf(field, "must be between %d and %d, is %d", r[0], r[1], v)
	}
	return nil
}

func (m *Manifest) checkResources(field string, r *Resources) error {
	if r == nil {
		return nil
	}
	for _, q := range []struct {
		name string
		q    *Quantities
	}{{"requests", r.Requests}, {"limits", r.Limits}} {
		if q.q == nil {
			continue
		}
		for _, v := range []struct{ name, val string }{{"cpu", q.q.CPU}, {"memory", q.q.Memory}} {
			if v.val == "" {
				continue
			}
			if _, err := resource.ParseQuantity(v.val); err != nil {
				return m.Errorf(field+"."+q.name+"."+v.name, "must be a Kubernetes quantity such as 250m or 512Mi, is %q", v.val)
			}
		}
	}
	return nil
}

func (m *Manifest) checkRelease() error {
	r := m.Release
	if r == nil {
		return nil
	}
	if len(r.Command) == 0 {
		return m.Errorf("release.command", "is required in release: the program and its arguments, such as [./migrate, up]")
	}
	if strings.TrimSpace(r.Command[0]) == "" {
		return m.Errorf("release.command[0]", "must name the program to run, such as ./migrate")
	}
	if _, err := r.Spec(); err != nil {
		return m.Errorf("release.timeout", "%v", err)
	}
	return nil
}

// Spec is the Application's release phase: the command, and the timeout
// parsed and checked against the operator's bounds (plattrv1.CheckRelease).
func (r *Release) Spec() (*plattrv1.ReleaseSpec, error) {
	spec := &plattrv1.ReleaseSpec{Command: slices.Clone(r.Command)}
	if r.Timeout != "" {
		d, err := time.ParseDuration(r.Timeout)
		if err != nil {
			return nil, fmt.Errorf("must be a duration such as 10m or 1h30m, is %q", r.Timeout)
		}
		spec.Timeout = &metav1.Duration{Duration: d}
	}
	if err := plattrv1.CheckRelease(spec); err != nil {
		_, msg, _ := strings.Cut(err.Error(), ": ")
		return nil, errors.New(msg)
	}
	return spec, nil
}

package plattr

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/spf13/cobra"

	"github.com/plattr/plattr/generator"
	"github.com/plattr/plattr/generator/manifest"
	"github.com/plattr/plattr/generator/names"
	"github.com/plattr/plattr/operator"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/services"
)

// Local defaults of the admin URLs, when neither flag nor environment gives one.
const (
	defaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	defaultRedisURL    = "redis://127.0.0.1:6379"
)

// adminEnv are the operator's settings read from the environment. They are the
// admin's, not the app's: the command never sees them, as the app in the
// cluster never does. OpenSearch's admin settings share their names with the
// app's credentials: an app with search gets its own values instead.
var adminEnv = []string{"DB_ADMIN_URL", "REDIS_ADMIN_URL", "KEYCLOAK_URL", "KEYCLOAK_ADMIN_USER", "KEYCLOAK_ADMIN_PASSWORD",
	"OPENSEARCH_URL", "OPENSEARCH_USERNAME", "OPENSEARCH_PASSWORD"}

type devOptions struct {
	dir, env                                          string
	postgresURL, redisURL, opensearchURL, keycloakURL string
	reset, force, noRelease                           bool
}

// clusterEnvs are the names of environments a cluster runs (env init's defaults,
// previews, deploy local's): dev refuses them without --force, because on a
// shared server it would take over that environment's database and users, and
// --reset would drop them.
var clusterEnvs = map[string]bool{"staging": true, "uat": true, "prod": true, "preview": true, "local": true}

func newDevCmd(io IO) *cobra.Command {
	o := &devOptions{}
	cmd := &cobra.Command{
		Use:   "dev [--dir .] [--env dev] [--postgres-url URL] [--redis-url URL] [--reset] [-- COMMAND ARGS...]",
		Short: "Run the app locally with the environment it gets in the cluster",
		Long: "dev provisions the backing services plattr.yaml enables (database, redis, search, auth) on local servers,\n" +
			"with the operator's own provisioners, then runs COMMAND (default: dev.command of plattr.yaml) in the app's\n" +
			"folder with the app's variables, the services' credentials (DATABASE_URL, PG*, REDIS_URL, REDIS_KEY_PREFIX, ...)\n" +
			"and PORT; release.command of plattr.yaml (the release phase) runs first, as in the cluster, and its failure stops dev.\n" +
			"Credentials are kept in a file of your own under the user cache folder, so running again does not\n" +
			"change passwords. An enabled service that cannot be provisioned stops dev before COMMAND runs.\n" +
			"--reset drops what dev made for the app in --env (databases, users, keys) and runs nothing.\n\n" +
			"Admin URLs: --postgres-url, else $DB_ADMIN_URL, else " + defaultPostgresURL + ";\n" +
			"--redis-url, else $REDIS_ADMIN_URL, else " + defaultRedisURL + ";\n" +
			"search: --opensearch-url or $OPENSEARCH_URL, with $OPENSEARCH_USERNAME and $OPENSEARCH_PASSWORD;\n" +
			"auth: --keycloak-url or $KEYCLOAK_URL, with $KEYCLOAK_ADMIN_USER and $KEYCLOAK_ADMIN_PASSWORD.\n" +
			"COMMAND's exit code is dev's.",
		Example: "  plattr dev                       # runs dev.command of plattr.yaml\n" +
			"  plattr dev -- npm run dev\n" +
			"  plattr dev --reset               # drop the local database and users of the app",
		RunE: func(cmd *cobra.Command, args []string) error {
			if dash := cmd.ArgsLenAtDash(); len(args) > 0 && dash != 0 {
				return usageError{fmt.Errorf("put the command after --, as in 'plattr dev -- %s'", strings.Join(args, " "))}
			}
			return o.run(cmd.Context(), io, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", ".", "the app's folder, holding plattr.yaml; COMMAND runs there")
	f.StringVar(&o.env, "env", "dev", "environment name: databases and users are named after it (<env>_<app>, <env>:<app>)")
	f.StringVar(&o.postgresURL, "postgres-url", "", "PostgreSQL admin URL (default $DB_ADMIN_URL, else the local server)")
	f.StringVar(&o.redisURL, "redis-url", "", "Redis admin URL (default $REDIS_ADMIN_URL, else the local server)")
	f.StringVar(&o.opensearchURL, "opensearch-url", "", "OpenSearch URL (default $OPENSEARCH_URL; none: search is not available)")
	f.StringVar(&o.keycloakURL, "keycloak-url", "", "Keycloak URL (default $KEYCLOAK_URL; none: auth is not available)")
	f.BoolVar(&o.reset, "reset", false, "drop the app's local databases, users and keys in --env, and run nothing")
	f.BoolVar(&o.noRelease, "no-release", false, "do not run release.command of plattr.yaml before COMMAND")
	f.BoolVar(&o.force, "force", false, "accept an --env that names a cluster environment (staging, uat, prod, preview, local)")
	return cmd
}

// setting is how a developer gives a service's admin settings, for messages.
type setting struct {
	field string // the block in plattr.yaml
	how   string // flag and variables
}

// settings are keyed by services.Provisioner.Name. A service missing here is still
// provisioned; its messages are only less specific.
var settings = map[string]setting{
	plattrv1.ServiceDatabase.Name: {plattrv1.ServiceDatabase.Field, "--postgres-url or DB_ADMIN_URL"},
	plattrv1.ServiceRedis.Name:    {plattrv1.ServiceRedis.Field, "--redis-url or REDIS_ADMIN_URL"},
	plattrv1.ServiceSearch.Name:   {plattrv1.ServiceSearch.Field, "--opensearch-url or OPENSEARCH_URL (with OPENSEARCH_USERNAME and OPENSEARCH_PASSWORD)"},
	plattrv1.ServiceAuth.Name:     {plattrv1.ServiceAuth.Field, "--keycloak-url or KEYCLOAK_URL (with KEYCLOAK_ADMIN_PASSWORD)"},
}

func settingOf(p services.Provisioner) setting {
	if s, ok := settings[p.Name()]; ok {
		return s
	}
	return setting{p.Name(), "its admin settings"}
}

// config is the operator's configuration for local servers.
func (o *devOptions) config() operator.Config {
	return operator.Config{
		DBAdminURL:         cmp.Or(o.postgresURL, os.Getenv("DB_ADMIN_URL"), defaultPostgresURL),
		RedisAdminURL:      cmp.Or(o.redisURL, os.Getenv("REDIS_ADMIN_URL"), defaultRedisURL),
		OpenSearchURL:      cmp.Or(o.opensearchURL, os.Getenv("OPENSEARCH_URL")),
		OpenSearchUser:     os.Getenv("OPENSEARCH_USERNAME"),
		OpenSearchPassword: os.Getenv("OPENSEARCH_PASSWORD"),
		KeycloakURL:        cmp.Or(o.keycloakURL, os.Getenv("KEYCLOAK_URL")),
		KeycloakUser:       os.Getenv("KEYCLOAK_ADMIN_USER"),
		KeycloakPassword:   os.Getenv("KEYCLOAK_ADMIN_PASSWORD"),
	}
}

// servers names the server each service talks to (host and port, never
// credentials): stored credentials are reused only on the server that made them.
func (o *devOptions) servers(cfg operator.Config) map[string]string {
	host := func(raw string) string {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return ""
		}
		return u.Host
	}
	return map[string]string{plattrv1.ServiceDatabase.Name: host(cfg.DBAdminURL), plattrv1.ServiceRedis.Name: host(cfg.RedisAdminURL),
		plattrv1.ServiceSearch.Name: host(cfg.OpenSearchURL), plattrv1.ServiceAuth.Name: host(cfg.KeycloakURL)}
}

// loadManifest reads dir/plattr.yaml; a missing file is a usage error.
func loadManifest(dir, flag string) (*manifest.Manifest, error) {
	path := filepath.Join(dir, manifest.FileName)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, usageError{fmt.Errorf("no %s in %s: run 'plattr init' there, or point %s at the app's folder", manifest.FileName, dir, flag)}
	}
	return manifest.Load(path)
}

func (o *devOptions) run(ctx context.Context, io IO, args []string) error {
	m, err := loadManifest(o.dir, "--dir")
	if err != nil {
		return err
	}
	command := args
	switch {
	case o.reset && len(args) > 0:
		return usageError{errors.New("--reset drops the app's local services and runs nothing: run the command without --reset")}
	case !o.reset && len(command) == 0 && m.Dev != nil:
		command = m.Dev.Command
	case !o.reset && len(command) == 0:
		return usageError{fmt.Errorf("no command to run: give one after -- (plattr dev -- npm run dev), or set dev.command in %s",
			filepath.Join(o.dir, manifest.FileName))}
	}
	if err := names.Env(o.env); err != nil {
		return usageError{fmt.Errorf("--env: %w", err)}
	}
	if clusterEnvs[o.env] && !o.force {
		return usageError{fmt.Errorf("--env %s: that is a cluster environment's name; on a server the cluster shares, dev would take over "+
			"its database and users (and --reset would drop them). Use another name (default dev), or pass --force", o.env)}
	}
	app, err := generator.Local(m, generator.Image{}, o.env)
	if err != nil {
		return err
	}
	cfg := o.config()
	provs, closeAll, err := operator.Provisioners(cfg, nil)
	if err != nil {
		return usageError{err}
	}
	defer closeAll()
	store, err := openState(m.Name, o.env)
	if err != nil {
		return err
	}
	inst := services.Instance{Env: o.env, App: m.Name, Namespace: o.env, Host: fmt.Sprintf("localhost:%d", app.Spec.Port), Spec: &app.Spec, Development: true}
	servers := o.servers(cfg)
	if o.reset {
		return reset(ctx, io, provs, inst, store, servers)
	}

	fmt.Fprintf(io.Err, "plattr dev: %s in environment %q\n", m.Name, o.env)
	env := map[string]string{"PORT": fmt.Sprint(app.Spec.Port)}
	for _, e := range app.Spec.Env {
		env[e.Name] = e.Value
	}
	var failed []string
	for _, p := range provs {
		if !p.Enabled(&app.Spec) {
			continue
		}
		s, key := settingOf(p), p.Name()+"@"+servers[p.Name()]
		current := store.Creds[key]
		creds, err := p.Ensure(ctx, inst, current)
		switch {
		case errors.Is(err, services.ErrNotConfigured):
			failed = append(failed, fmt.Sprintf("%s: not available locally: set %s, or disable %s in plattr.yaml", s.field, s.how, s.field))
			continue
		case err != nil:
			failed = append(failed, unreachable(s, err, servers[p.Name()]))
			continue
		}
		state := "created"
		if maps.EqualFunc(current, creds, bytes.Equal) {
			state = "kept"
		}
		store.Creds[key] = creds
		fmt.Fprintf(io.Err, "  %-9s %-8s %s\n", s.field, state, describe(creds))
		for k, v := range creds {
			env[k] = string(v)
		}
	}
	if err := store.save(); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("cannot provision every service plattr.yaml enables, so the command did not run:\n  %s", strings.Join(failed, "\n  "))
	}
	fmt.Fprintf(io.Err, "  %-9s PORT=%s\n", "env", env["PORT"])
	closeAll() // the admin connections are not needed while the commands run
	if rel := app.Spec.Release; rel != nil && !o.noRelease {
		if err := runRelease(ctx, io, o.dir, rel, env); err != nil {
			return err
		}
	}
	fmt.Fprintf(io.Err, "running: %s\n", strings.Join(command, " "))
	return runCommand(ctx, io, o.dir, command, env)
}

// runRelease runs the release phase as the cluster does before a release's
// pods start: the command, $(VAR) expanded from the app's environment, within
// its timeout. A failure stops dev before the app runs, with the command's
// exit code.
func runRelease(ctx context.Context, io IO, dir string, rel *plattrv1.ReleaseSpec, env map[string]string) error {
	argv := make([]string, len(rel.Command))
	for i, a := range rel.Command {
		argv[i] = plattrv1.ExpandEnv(a, env)
	}
	fmt.Fprintf(io.Err, "release: %s\n", strings.Join(rel.Command, " "))
	ctx, cancel := context.WithTimeout(ctx, rel.ReleaseTimeout())
	defer cancel()
	err := runCommand(ctx, io, dir, argv, env)
	switch {
	case err == nil:
		return nil
	case ctx.Err() == context.DeadlineExceeded:
		return fmt.Errorf("the release command ran longer than release.timeout (%s) and was stopped: the app did not start", rel.ReleaseTimeout())
	}
	var code exitCode
	if errors.As(err, &code) {
		fmt.Fprintf(io.Err, "plattr dev: the release command exited with status %d: the app did not start (--no-release skips it)\n", int(code))
		return code
	}
	return fmt.Errorf("release.command: %w", err)
}

// unreachable explains a service that failed: its error's first line (drivers
// repeat themselves on the next ones), the server, and what to set.
func unreachable(s setting, err error, server string) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return fmt.Sprintf("%s: %s; is the server at %s running? Start it, or set %s", s.field, msg, server, s.how)
}

// describe shows what a service handed the app without a secret: URLs
// redacted, prefixes as they are, the other keys by name only.
func describe(creds services.Credentials) string {
	var shown, named []string
	for k, v := range creds {
		switch {
		case strings.HasSuffix(k, "_URL"):
			if u, err := url.Parse(string(v)); err == nil {
				shown = append(shown, k+"="+u.Redacted())
			} else {
				named = append(named, k)
			}
		case strings.HasSuffix(k, "_PREFIX"):
			shown = append(shown, k+"="+string(v))
		default:
			named = append(named, k)
		}
	}
	sort.Strings(shown)
	sort.Strings(named)
	if len(named) > 0 {
		shown = append(shown, "(+ "+strings.Join(named, " ")+")")
	}
	return strings.Join(shown, " ")
}

// reset deletes, through each provisioner, what dev made for inst: the services
// plattr.yaml enables and those the state file remembers.
func reset(ctx context.Context, io IO, provs []services.Provisioner, inst services.Instance, store *state, servers map[string]string) error {
	var failed []string
	for _, p := range provs {
		s, key := settingOf(p), p.Name()+"@"+servers[p.Name()]
		_, stored := store.Creds[key]
		if !stored && !p.Enabled(inst.Spec) {
			continue
		}
		err := p.Delete(ctx, inst)
		switch {
		case errors.Is(err, services.ErrNotConfigured) && !stored:
			fmt.Fprintf(io.Err, "  %-9s not configured locally: nothing to drop\n", s.field)
			continue
		case err != nil:
			failed = append(failed, unreachable(s, err, servers[p.Name()]))
			continue
		}
		delete(store.Creds, key)
		fmt.Fprintf(io.Err, "  %-9s dropped  (%s for %s in %s)\n", s.field, p.Name(), inst.App, inst.Env)
	}
	if err := store.save(); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("reset %s in %s:\n  %s", inst.App, inst.Env, strings.Join(failed, "\n  "))
	}
	return nil
}

// exitCode is the command's exit status, handed back as plattr's.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("the command exited with status %d", int(e)) }

// forwarded are the signals passed on to the command.
var forwarded = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}

// runCommand runs argv in dir with the environment of this process, minus the
// admin settings, plus env. Signals are forwarded, each once: when plattr is in
// its terminal's foreground process group, the terminal's own signals (Ctrl-C,
// Ctrl-\, the hang-up when it closes) already reach the command, which shares
// that group, so those are not sent again. The command dies with plattr where the
// system allows it (Linux), rather than outliving it holding its port.
func runCommand(ctx context.Context, io IO, dir string, argv []string, env map[string]string) error {
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	c.Dir = dir
	c.Env = environ(os.Environ(), env)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, io.Out, io.Err
	c.Cancel = func() error { return c.Process.Signal(syscall.SIGTERM) }
	c.SysProcAttr = dieWithParent()
	c.WaitDelay = 10 * time.Second
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwarded...)
	defer signal.Stop(sigs)
	if err := c.Start(); err != nil {
		return fmt.Errorf("run %s: %w", argv[0], err)
	}
	tty := foregroundAtTerminal()
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case s := <-sigs:
				if tty && (s == syscall.SIGINT || s == syscall.SIGQUIT || s == syscall.SIGHUP) {
					continue
				}
				_ = c.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err := c.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return exitCode(128 + int(ws.Signal()))
		}
		return exitCode(ee.ExitCode())
	}
	return fmt.Errorf("run %s: %w", argv[0], err)
}

// environ is base without the admin settings, with env set over it.
func environ(base []string, env map[string]string) []string {
	drop := map[string]bool{}
	for _, k := range adminEnv {
		drop[k] = true
	}
	for k := range env {
		drop[k] = true
	}
	out := make([]string, 0, len(base)+len(env))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			out = append(out, kv)
		}
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, k+"="+env[k])
	}
	return out
}

// foregroundAtTerminal says whether this process has a controlling terminal and
// is in its foreground process group: then the terminal sends its signals to the
// whole group.
func foregroundAtTerminal() bool {
	tty, err := os.Open("/dev/tty")
	if err != nil {
		return false // no controlling terminal
	}
	defer tty.Close()
	var fg int32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, tty.Fd(), uintptr(syscall.TIOCGPGRP), uintptr(unsafe.Pointer(&fg))); errno != 0 {
		return false
	}
	return int(fg) == syscall.Getpgrp()
}

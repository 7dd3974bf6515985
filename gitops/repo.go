package gitops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/plattr/plattr/envfiles"
	"github.com/plattr/plattr/generator/names"
	"github.com/plattr/plattr/internal/urls"
)

// Repo is a shallow, in-memory clone of one branch of an env repo.
type Repo struct {
	url        string // without credentials
	display    string // safe to print
	branchName string
	branch     plumbing.ReferenceName
	auth       transport.AuthMethod
	secrets    []string // the token or password, never printed
	creds      Credentials
	token      string
	allowHTTP  bool
	limits     *netLimits
	http       transport.Transport // this Repo's own HTTP client, with its limits
	author     object.Signature
	now        func() time.Time
	validate   Validator

	st      *memory.Storage
	head    plumbing.Hash // the branch's commit: as fetched, or the local commit not pushed yet (zero: empty repo)
	fetched plumbing.Hash // the branch's commit on the remote when last fetched
	partial bool          // blobs were left out of the fetch and are fetched when read

	// pending are the objects written since the last fetch, sent on push.
	pending []plumbing.Hash
}

// Credentials says what authenticates a Repo's requests.
type Credentials int

const (
	// NoCredentials: a local repo, or no token and none in the URL.
	NoCredentials Credentials = iota
	// URLCredentials: the user information of the URL. They win over a token
	// (WithToken): whoever wrote them into the URL meant them.
	URLCredentials
	// TokenCredentials: the token of WithToken.
	TokenCredentials
)

// Validator checks a change before it is committed: the changed files (nil
// deletes) and the repo as it is. A Repo commits nothing its Validator refused;
// for Plattr's env repos it is generator.Validate, given at Open, so that gitops
// itself knows nothing of what the files mean.
type Validator func(changes envfiles.Files, base envfiles.Tree) error

// Option configures a Repo.
type Option func(*Repo)

// WithBranch selects the branch (default "main"). Open refuses a name git would
// refuse (names.Branch).
func WithBranch(name string) Option {
	return func(r *Repo) { r.branchName = name }
}

// WithToken authenticates over HTTPS with a token (GitHub: any user name works).
// It is sent only to the host of the repo's URL, and only when the URL carries no
// credentials of its own (those win).
func WithToken(token string) Option {
	return func(r *Repo) { r.token = token }
}

// WithAllowHTTP allows a plain http:// URL to a loopback address (a test
// server). Without it, and to any other host, http:// is refused (ErrPlainHTTP).
func WithAllowHTTP() Option {
	return func(r *Repo) { r.allowHTTP = true }
}

// WithTimeouts bounds each HTTP request: connect for the TCP connection and the
// TLS handshake, idle for a connection on which no byte moves either way
// (default DefaultConnectTimeout and DefaultIdleTimeout; zero is no limit). A
// request cut by either fails with a TimeoutError. The whole operation is bounded
// by the context passed to Open, Apply, Propose and History.
func WithTimeouts(connect, idle time.Duration) Option {
	return func(r *Repo) { r.limits.connect, r.limits.idle = connect, idle }
}

// tokenVars are the environment variables a token is read from, in order.
var tokenVars = []string{"PLATTR_GIT_TOKEN", "GITHUB_TOKEN"}

// TokenSource returns the token from the environment (PLATTR_GIT_TOKEN, else
// GITHUB_TOKEN) and the variable it came from ("" when there is none). A token
// holding a control character (a line ending read from a file) is refused,
// naming the variable and never showing the token: a "\n" made every request
// fail after retries, a "\r" was sent as part of it.
func TokenSource() (token, variable string, err error) {
	for _, v := range tokenVars {
		if t := os.Getenv(v); t != "" {
			if err := checkToken("$"+v, t); err != nil {
				return "", v, err
			}
			return t, v, nil
		}
	}
	return "", "", nil
}

func checkToken(name, token string) error {
	if err := controlError(token, "it is a secret"); err != nil {
		return fmt.Errorf("%s %w", name, err)
	}
	return nil
}

// ErrNoBranch is returned by Open when the repo has branches, but not the one
// asked for. An empty repo (no branch at all) opens with no head instead.
var ErrNoBranch = errors.New("no such branch in the env repo")

// Open clones branch of the repo at location (a local path, bare or not, or an
// https:// URL; see CheckLocation) shallowly into memory. An empty repo (no
// commits yet) opens with no head; the first commit creates the branch. A repo
// whose branches do not include the one asked for is an error matching
// ErrNoBranch.
func Open(ctx context.Context, location string, validate Validator, opts ...Option) (*Repo, error) {
	if validate == nil {
		return nil, errors.New("gitops.Open: no Validator: every change is validated before it is committed")
	}
	r := &Repo{branchName: "main", now: time.Now, validate: validate,
		limits: &netLimits{connect: DefaultConnectTimeout, idle: DefaultIdleTimeout},
		author: object.Signature{Name: "plattr-gen", Email: "plattr-gen@plattr.dev"}}
	for _, o := range opts {
		o(r)
	}
	if err := names.Branch(r.branchName); err != nil {
		return nil, err
	}
	r.branch = plumbing.NewBranchReferenceName(r.branchName)
	if err := r.setURL(location); err != nil {
		return nil, err
	}
	r.st = memory.NewStorage()
	if err := r.fetch(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// setURL accepts a path or URL (parseLocation's rules); credentials in a URL move
// into auth and never appear in output.
func (r *Repo) setURL(location string) error {
	loc, err := parseLocation(location, r.allowHTTP)
	if err != nil {
		return fmt.Errorf("env repo location %w", err)
	}
	if err := checkToken("the token", r.token); err != nil {
		return err
	}
	if loc.url == nil {
		// parseLocation refused a path holding '@' (a URL that lost its
		// scheme): this one may be printed.
		abs, err := filepath.Abs(loc.path)
		if err != nil {
			return fmt.Errorf("env repo path %s: %w", loc.path, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return fmt.Errorf("env repo path %s does not exist: create it with 'git init --bare %s'", loc.path, loc.path)
		}
		localGitConfig()
		r.url, r.display = abs, abs
		return nil
	}
	r.url = loc.url.String()
	r.display = urls.Redact(loc.url)
	if loc.url.Scheme == "file" {
		localGitConfig()
		return nil
	}
	r.http = githttp.NewClientWithOptions(r.limits.client(loc.url), nil)
	switch {
	case loc.user != nil:
		pw, _ := loc.user.Password()
		r.auth = &githttp.BasicAuth{Username: loc.user.Username(), Password: pw}
		r.creds = URLCredentials
		r.secrets = append(r.secrets, pw)
		if pw == "" {
			r.secrets = append(r.secrets, loc.user.Username()) // a token given as the user name
		}
	case r.token != "":
		r.auth = &githttp.BasicAuth{Username: "x-access-token", Password: r.token}
		r.creds = TokenCredentials
	}
	r.secrets = append(r.secrets, r.token)
	return nil
}

// Credentials says what authenticates the repo's requests.
func (r *Repo) Credentials() Credentials { return r.creds }

var localConfigOnce sync.Once

// localGitConfig sets, for the git-upload-pack and git-receive-pack processes we
// start for local repos (through git's GIT_CONFIG_* environment, so the setting
// lives only in those processes):
//   - uploadpack.allowFilter and allowAnySHA1InWant: serve partial clones, as
//     GitHub does, so a clone fetches trees and only the blobs it reads;
//   - receive.denyCurrentBranch=updateInstead: a push to a working copy's
//     checked-out branch updates its files too, and is refused when they have
//     uncommitted changes.
func localGitConfig() {
	localConfigOnce.Do(func() {
		if os.Getenv("GIT_CONFIG_COUNT") != "" {
			return // someone else passes configuration this way: leave it alone
		}
		kv := [][2]string{{"uploadpack.allowFilter", "true"}, {"uploadpack.allowAnySHA1InWant", "true"},
			{"receive.denyCurrentBranch", "updateInstead"}}
		for i, c := range kv {
			os.Setenv(fmt.Sprintf("GIT_CONFIG_KEY_%d", i), c[0])
			os.Setenv(fmt.Sprintf("GIT_CONFIG_VALUE_%d", i), c[1])
		}
		os.Setenv("GIT_CONFIG_COUNT", fmt.Sprint(len(kv)))
	})
}

// URL is the repo's location, safe to print.
func (r *Repo) URL() string { return r.display }

// Head is the branch's commit as last fetched; zero for an empty repo.
func (r *Repo) Head() plumbing.Hash { return r.head }

// HeadCommit is the branch's commit (nil in an empty repo).
func (r *Repo) HeadCommit() (*object.Commit, error) {
	if r.head.IsZero() {
		return nil, nil
	}
	return object.GetCommit(r.st, r.head)
}

// wrap names the operation and the repo and removes anything secret from err.
func (r *Repo) wrap(op string, err error) error {
	if re := r.redirect(err); re != nil {
		// The transport's words name the request's URL, or the target's.
		return &Error{Op: op, Repo: r.display, Msg: re.Error(), err: re}
	}
	if te := r.timeout(err); te != nil {
		// The transport's own words ("context canceled") say less than this.
		return &Error{Op: op, Repo: r.display, Msg: te.Error(), err: te}
	}
	msg := r.clean(err.Error())
	if errors.Is(err, transport.ErrAuthenticationRequired) || errors.Is(err, transport.ErrAuthorizationFailed) {
		msg += " (set " + strings.Join(tokenVars, " or ") + " to a token that may push to the env repo)"
	}
	if errors.Is(err, transport.ErrRepositoryNotFound) {
		msg += " (check --repo)"
	}
	return &Error{Op: op, Repo: r.display, Msg: msg, err: err}
}

// clean removes the repo's secrets from a message: its URL holds none, but a
// server may echo what it was sent.
func (r *Repo) clean(msg string) string {
	if r.url != r.display {
		msg = strings.ReplaceAll(msg, r.url, r.display)
	}
	for _, s := range r.secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "***")
		}
	}
	return msg
}

// timeout is the limit that cut the failed request, if one did.
func (r *Repo) timeout(err error) *TimeoutError {
	var te *TimeoutError
	if errors.As(err, &te) {
		return te
	}
	if r.limits != nil {
		return r.limits.cut()
	}
	return nil
}

// redirect is the redirect refused in the failed operation, if one was.
func (r *Repo) redirect(err error) *RedirectError {
	var re *RedirectError
	if errors.As(err, &re) {
		return re
	}
	if r.limits != nil {
		return r.limits.refused()
	}
	return nil
}

// Error is a failed repository operation, safe to print.
type Error struct {
	Op, Repo, Msg string
	err           error
}

func (e *Error) Error() string { return fmt.Sprintf("%s %s: %s", e.Op, e.Repo, e.Msg) }

// Unwrap lets callers match transport errors; their text may hold the URL, so
// print e, never the unwrapped error.
func (e *Error) Unwrap() error { return e.err }

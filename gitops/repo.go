package gitops

import (
	"context"
	"errors"
	"fmt"
	"net/url"
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
)

// Repo is a shallow, in-memory clone of one branch of an env repo.
type Repo struct {
	url     string // without credentials
	display string // safe to print
	branch  plumbing.ReferenceName
	auth    transport.AuthMethod
	author  object.Signature
	now     func() time.Time

	st      *memory.Storage
	head    plumbing.Hash // the branch's commit: as fetched, or the local commit not pushed yet (zero: empty repo)
	fetched plumbing.Hash // the branch's commit on the remote when last fetched
	partial bool          // blobs were left out of the fetch and are fetched when read

	// pending are the objects written since the last fetch, sent on push.
	pending []plumbing.Hash
}

// Option configures a Repo.
type Option func(*Repo)

// WithBranch selects the branch (default "main").
func WithBranch(name string) Option {
	return func(r *Repo) { r.branch = plumbing.NewBranchReferenceName(name) }
}

// WithToken authenticates over HTTPS with a token (GitHub: any user name works).
func WithToken(token string) Option {
	return func(r *Repo) {
		if token != "" {
			r.auth = &githttp.BasicAuth{Username: "x-access-token", Password: token}
		}
	}
}

// TokenFromEnv returns PLATTR_GIT_TOKEN, else GITHUB_TOKEN.
func TokenFromEnv() string {
	if t := os.Getenv("PLATTR_GIT_TOKEN"); t != "" {
		return t
	}
	return os.Getenv("GITHUB_TOKEN")
}

// Open clones branch of the repo at location (a local path, bare or not, or an
// http(s):// URL) shallowly into memory. An empty repo (no commits yet) opens with
// no head; the first commit creates the branch.
func Open(ctx context.Context, location string, opts ...Option) (*Repo, error) {
	r := &Repo{branch: plumbing.NewBranchReferenceName("main"), now: time.Now,
		author: object.Signature{Name: "plattr-gen", Email: "plattr-gen@plattr.dev"}}
	for _, o := range opts {
		o(r)
	}
	if err := r.setURL(location); err != nil {
		return nil, err
	}
	r.st = memory.NewStorage()
	if err := r.fetch(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// setURL accepts a path or URL; credentials in a URL move into auth and never
// appear in output.
func (r *Repo) setURL(location string) error {
	if location == "" {
		return errors.New("env repo location is empty: give a local path or an https:// URL")
	}
	if !strings.Contains(location, "://") {
		abs, err := filepath.Abs(location)
		if err != nil {
			return fmt.Errorf("env repo path %q: %w", location, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return fmt.Errorf("env repo path %q does not exist: create it with 'git init --bare %s'", location, location)
		}
		localGitConfig()
		r.url, r.display = abs, abs
		return nil
	}
	u, err := url.Parse(location)
	if err != nil {
		return fmt.Errorf("env repo URL is not valid: %s", redactAll(err.Error(), location))
	}
	switch u.Scheme {
	case "https", "http", "file":
	default:
		return fmt.Errorf("env repo URL scheme %q is not supported: use https://, http:// or a local path", u.Scheme)
	}
	if u.User != nil {
		pw, _ := u.User.Password()
		if pw != "" && r.auth == nil {
			r.auth = &githttp.BasicAuth{Username: u.User.Username(), Password: pw}
		}
		u.User = nil
	}
	r.url = u.String()
	r.display = u.Redacted()
	return nil
}

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

// wrap names the operation and the repo and removes anything secret from err.
func (r *Repo) wrap(op string, err error) error {
	msg := err.Error()
	if r.url != r.display {
		msg = strings.ReplaceAll(msg, r.url, r.display)
	}
	if ba, ok := r.auth.(*githttp.BasicAuth); ok && ba.Password != "" {
		msg = strings.ReplaceAll(msg, ba.Password, "***")
	}
	if errors.Is(err, transport.ErrAuthenticationRequired) || errors.Is(err, transport.ErrAuthorizationFailed) {
		msg += " (set PLATTR_GIT_TOKEN or GITHUB_TOKEN to a token that may push to the env repo)"
	}
	if errors.Is(err, transport.ErrRepositoryNotFound) {
		msg += " (check --repo)"
	}
	return &Error{Op: op, Repo: r.display, Msg: msg, err: err}
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

func redactAll(msg, secretish string) string {
	if u, err := url.Parse(secretish); err == nil && u.User != nil {
		return strings.ReplaceAll(msg, secretish, u.Redacted())
	}
	if i := strings.Index(secretish, "@"); i >= 0 {
		return strings.ReplaceAll(msg, secretish, "***"+secretish[i:])
	}
	return msg
}

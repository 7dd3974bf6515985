package gitops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Defaults of WithTimeouts.
const (
	DefaultConnectTimeout = 30 * time.Second
	DefaultIdleTimeout    = 2 * time.Minute
)

// Sentinels a TimeoutError matches.
var (
	ErrConnectTimeout = errors.New("connect timeout")
	ErrIdleTimeout    = errors.New("idle timeout")
)

// TimeoutError is a request to the env repo's server cut by one of the limits of
// WithTimeouts. It matches ErrConnectTimeout or ErrIdleTimeout.
type TimeoutError struct {
	// Idle is true when the connection was up but no byte moved for After;
	// false when no connection (TCP and TLS) was made within After.
	Idle  bool
	After time.Duration
}

func (e *TimeoutError) Error() string {
	if e.Idle {
		return fmt.Sprintf("no data moved to or from the server for %s", e.After)
	}
	return fmt.Sprintf("no connection to the server within %s", e.After)
}

// Is matches the sentinel of the limit that cut the request.
func (e *TimeoutError) Is(target error) bool {
	return (e.Idle && target == ErrIdleTimeout) || (!e.Idle && target == ErrConnectTimeout)
}

// ErrRedirect is matched by the error for a redirect to another origin than the
// env repo's URL (another scheme, host or port): it is never followed, so
// nothing (the token, the env repo's content, a push) goes where --repo did not
// say, and what is reported is where it went. A redirect within the origin (a
// renamed repository) is followed for the first request of a fetch or push, as
// git does.
var ErrRedirect = errors.New("redirect to another origin refused")

// RedirectError is a refused redirect. It does not say where to: a hostile
// server chooses that, and the report names only the host that was used.
type RedirectError struct{}

func (e *RedirectError) Error() string {
	return "the server redirected to another host, scheme or port, which is refused: " +
		"plattr-gen talks only to the host --repo names; if the repo moved, give its new https:// URL as --repo"
}

// Is matches ErrRedirect.
func (e *RedirectError) Is(target error) bool { return target == ErrRedirect }

// netLimits are the connect and idle limits of one Repo's HTTP requests. It
// remembers the last request it cut, or redirect it refused: go-git rewords
// some transport errors without wrapping them, and the Repo still has to say
// what happened.
type netLimits struct {
	connect, idle time.Duration

	mu       sync.Mutex
	last     *TimeoutError
	redirect *RedirectError
}

func (l *netLimits) record(e *TimeoutError) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last = e
}

func (l *netLimits) recordRedirect(e *RedirectError) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.redirect = e
}

// cut is the last request cut since reset, or nil.
func (l *netLimits) cut() *TimeoutError {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// refused is the last redirect refused since reset, or nil.
func (l *netLimits) refused() *RedirectError {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.redirect
}

func (l *netLimits) reset() {
	l.record(nil)
	l.recordRedirect(nil)
}

// client is an HTTP client for the env repo at origin (its scheme, host and
// port count): its connections (TCP connect and TLS handshake) must be up
// within the connect limit, its requests are cut when no byte of the request
// or the response moves for the idle limit (a zero limit is none), and a
// redirect to another origin is refused (RedirectError). The caller's context
// still bounds the whole request.
func (l *netLimits) client(origin *url.URL) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone() // proxies from the environment, HTTP/2
	tr.DialContext = (&net.Dialer{Timeout: l.connect, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = l.connect
	return &http.Client{Transport: &limitedTransport{base: tr, l: l, origin: origin}}
}

// sameOrigin says whether u is at origin: the same scheme, host (ASCII case
// aside) and port, the scheme's own when none is written.
func sameOrigin(origin, u *url.URL) bool {
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		return map[string]string{"http": "80", "https": "443"}[asciiLower(u.Scheme)]
	}
	return asciiLower(origin.Scheme) == asciiLower(u.Scheme) && asciiLower(origin.Hostname()) == asciiLower(u.Hostname()) &&
		port(origin) == port(u)
}

// asciiLower folds ASCII letters only: strings.ToLower maps other code points
// onto ASCII ones (the Kelvin sign onto 'k'), which would join two hosts.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// errIdle is the cause of a request context cancelled by the idle watchdog.
var errIdle = errors.New("idle")

type limitedTransport struct {
	base   http.RoundTripper
	l      *netLimits
	origin *url.URL
}

func (t *limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	parent := req.Context()
	ctx, cancel := context.WithCancelCause(parent)
	w := newWatchdog(t.l.idle, func() { cancel(errIdle) })
	req = req.WithContext(ctx) // a copy: the caller's request is left as it was
	if req.Body != nil && req.Body != http.NoBody {
		req.Body = &progressBody{ReadCloser: req.Body, w: w}
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		w.stop()
		cancel(nil)
		return nil, t.classify(parent, ctx, err)
	}
	resp.Body = &watchedBody{ReadCloser: resp.Body, w: w, t: t, parent: parent, ctx: ctx, cancel: cancel}
	if err := t.checkRedirect(resp); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

// checkRedirect refuses a redirect to another origin before the HTTP client
// (or go-git, which follows redirects of the first request of a fetch or push)
// can follow it. Every response of every hop passes here, so a chain that
// leaves the origin at any hop is refused there.
func (t *limitedTransport) checkRedirect(resp *http.Response) error {
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
	default:
		return nil
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil // not followed
	}
	if resp.Request != nil && resp.Request.URL != nil {
		if target, err := resp.Request.URL.Parse(loc); err == nil && sameOrigin(t.origin, target) {
			return nil
		}
	}
	e := &RedirectError{}
	t.l.recordRedirect(e)
	return e
}

// classify turns an error of a request cut by a limit into a TimeoutError. The
// caller's own deadline or cancellation is left as it is.
func (t *limitedTransport) classify(parent, ctx context.Context, err error) error {
	if parent.Err() != nil {
		return err
	}
	var te *TimeoutError
	var ne net.Error
	switch {
	case errors.Is(context.Cause(ctx), errIdle):
		te = &TimeoutError{Idle: true, After: t.l.idle}
	case errors.As(err, &ne) && ne.Timeout():
		// No deadline is set on a connection once it is up: a timeout is the
		// dial's or the TLS handshake's.
		te = &TimeoutError{After: t.l.connect}
	default:
		return err
	}
	t.l.record(te)
	return te
}

// watchdog calls fire when touch has not been called for d.
type watchdog struct {
	d       time.Duration
	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
}

func newWatchdog(d time.Duration, fire func()) *watchdog {
	w := &watchdog{d: d}
	if d > 0 {
		w.timer = time.AfterFunc(d, fire)
	}
	return w
}

func (w *watchdog) touch() {
	if w.timer == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.timer.Reset(w.d)
	}
}

func (w *watchdog) stop() {
	if w.timer == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	w.timer.Stop()
}

// progressBody is a request body: each read is the transport sending more.
type progressBody struct {
	io.ReadCloser
	w *watchdog
}

func (b *progressBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.w.touch()
	}
	return n, err
}

// watchedBody is a response body: each byte read resets the idle watchdog.
type watchedBody struct {
	io.ReadCloser
	w           *watchdog
	t           *limitedTransport
	parent, ctx context.Context
	cancel      context.CancelCauseFunc
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.w.touch()
	}
	switch {
	case err == io.EOF:
		b.w.stop()
	case err != nil:
		err = b.t.classify(b.parent, b.ctx, err)
	}
	return n, err
}

func (b *watchedBody) Close() error {
	b.w.stop()
	err := b.ReadCloser.Close()
	b.cancel(nil)
	return err
}

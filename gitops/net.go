package gitops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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

// netLimits are the connect and idle limits of one Repo's HTTP requests. It
// remembers the last request it cut: go-git rewords some transport errors
// without wrapping them, and the Repo still has to say which limit was hit.
type netLimits struct {
	connect, idle time.Duration

	mu   sync.Mutex
	last *TimeoutError
}

func (l *netLimits) record(e *TimeoutError) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last = e
}

// cut is the last request cut since reset, or nil.
func (l *netLimits) cut() *TimeoutError {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

func (l *netLimits) reset() { l.record(nil) }

// client is an HTTP client whose connections (TCP connect and TLS handshake)
// must be up within the connect limit, and whose requests are cut when no byte
// of the request or the response moves for the idle limit. A zero limit is none.
// The caller's context still bounds the whole request.
func (l *netLimits) client() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone() // proxies from the environment, HTTP/2
	tr.DialContext = (&net.Dialer{Timeout: l.connect, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = l.connect
	return &http.Client{Transport: &limitedTransport{base: tr, l: l}}
}

// errIdle is the cause of a request context cancelled by the idle watchdog.
var errIdle = errors.New("idle")

type limitedTransport struct {
	base http.RoundTripper
	l    *netLimits
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
	return resp, nil
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

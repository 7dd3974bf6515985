// Package fakehttp is what the fakes of HTTP services (Keycloak, OpenSearch)
// share: a test server on 127.0.0.1 with one lock for its state, a count of
// requests, and faults on demand — a stall (requests hang until the client
// gives up, as a server in a long GC pause) and injected error statuses.
package fakehttp

import (
	"net/http"
	"net/http/httptest"
	"sync"
)

// Base is embedded by a fake. The fake's handler calls Enter first, and holds
// the lock (Lock/Unlock) whenever it touches its state.
type Base struct {
	*httptest.Server
	sync.Mutex

	requests int
	stall    bool
	faults   []int
	closed   chan struct{}
}

// Start serves h on a new test server.
func (b *Base) Start(h http.HandlerFunc) {
	b.closed = make(chan struct{})
	b.Server = httptest.NewServer(h)
}

// Close releases stalled requests and stops the server.
func (b *Base) Close() {
	close(b.closed)
	b.Server.Close()
}

// Stall makes the requests that can stall hang without an answer until the
// client gives up; Stall(false) ends it.
func (b *Base) Stall(on bool) {
	b.Lock()
	defer b.Unlock()
	b.stall = on
}

// Requests is how many requests the server has received.
func (b *Base) Requests() int {
	b.Lock()
	defer b.Unlock()
	return b.requests
}

// FailNext makes the next n requests that can fail answer status.
func (b *Base) FailNext(n, status int) {
	b.Lock()
	defer b.Unlock()
	for range n {
		b.faults = append(b.faults, status)
	}
}

// Enter counts r and takes the lock. While stalled, a request that can stall
// (stallable) waits for its client to give up or the server to close, and
// Enter returns false without the lock: the handler returns at once.
func (b *Base) Enter(r *http.Request, stallable bool) bool {
	b.Lock()
	b.requests++
	if b.stall && stallable {
		b.Unlock()
		select {
		case <-r.Context().Done():
		case <-b.closed:
		}
		return false
	}
	return true
}

// NextFault is the status of the next injected fault, if any (the lock held).
func (b *Base) NextFault() (int, bool) {
	if len(b.faults) == 0 {
		return 0, false
	}
	status := b.faults[0]
	b.faults = b.faults[1:]
	return status, true
}

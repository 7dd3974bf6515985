package testenv

import (
	"sync"
	"sync/atomic"
	"testing"
)

// KeepLoggingIn calls login over and over in the background, as a client
// that must never be refused (the test of a credential rotation), until the
// returned stop is called; stop says how many logins succeeded and failed,
// each failure logged. It stops when the test ends at the latest.
func KeepLoggingIn(t testing.TB, login func() error) (stop func() (ok, failed int64)) {
	var okN, failedN atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if err := login(); err != nil {
				failedN.Add(1)
				t.Logf("login failed: %v", err)
			} else {
				okN.Add(1)
			}
		}
	}()
	var once sync.Once
	stop = func() (int64, int64) {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
		return okN.Load(), failedN.Load()
	}
	// A test that fails before it calls stop must not leave the client
	// logging after it ended (a panic that would skip every cleanup).
	t.Cleanup(func() { stop() })
	return stop
}

package testenv

import (
	"sync"
	"sync/atomic"
	"testing"
)

// KeepLoggingIn calls login over and over in the background, as a client
// that must never be refused (the test of a credential rotation), until the
// returned stop is called; stop says how many logins succeeded and failed,
// each failure logged.
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
	return func() (int64, int64) {
		close(done)
		wg.Wait()
		return okN.Load(), failedN.Load()
	}
}

package plattr

import "syscall"

// dieWithParent makes the command receive SIGTERM when plattr dies, however it
// dies (a SIGKILL included), so a dev server never outlives it.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}

package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// reapOnExit makes sure the child processes of this test binary whose command
// starts with dir die with it, even when a panic ends the binary before Main can
// stop them: a small shell watches this process and kills them when it is gone.
// (envtest starts the API server and etcd itself, without a parent-death signal.)
func reapOnExit(dir string) error {
	var pids []string
	self := os.Getpid()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
		rest := string(data[strings.LastIndexByte(string(data), ')')+1:])
		fields := strings.Fields(rest)
		if len(fields) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(fields[1]); ppid != self {
			continue
		}
		pidDir := filepath.Dir(f)
		cmd, err := os.ReadFile(filepath.Join(pidDir, "cmdline"))
		if err != nil || !strings.HasPrefix(string(cmd), dir) {
			continue
		}
		pids = append(pids, filepath.Base(pidDir))
	}
	return killOnExit(pids, "KILL")
}

// killOnExit sends signal to pids once this test binary is gone, however it ended.
func killOnExit(pids []string, signal string) error {
	if len(pids) == 0 {
		return nil
	}
	script := fmt.Sprintf("while kill -0 %d 2>/dev/null; do sleep 1; done; kill -%s %s 2>/dev/null", os.Getpid(), signal, strings.Join(pids, " "))
	w := exec.Command("/bin/sh", "-c", script)
	w.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := w.Start(); err != nil {
		return fmt.Errorf("start the reaper of the test cluster: %w", err)
	}
	go func() { _ = w.Wait() }()
	onStop(func() { _ = w.Process.Kill() })
	return nil
}

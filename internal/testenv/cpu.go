package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// CPU is CPU time in seconds (user and system) by process name.
type CPU map[string]float64

// testGroundProcesses are the processes ProcessCPU counts: the test cluster's,
// PostgreSQL's, Redis's, Argo CD's and Plattr's.
var testGroundProcesses = map[string]bool{
	"kube-apiserver": true, "etcd": true, "kube-controller-manager": true, "kube-scheduler": true, "kwok": true,
	"postgres": true, "redis-server": true, "plattr-operator": true,
	"argocd-repo-server": true, "argocd-application-controller": true, "argocd-server": true,
}

// ProcessCPU reads the CPU time of the test ground's processes on this machine,
// by name (PostgreSQL's processes as "postgres", test binaries as "test
// binary"), each with its reaped children's: PostgreSQL's backends, one per
// connection, exit and are reaped by the postmaster; the repo server's git and
// kustomize by the repo server. Benchmarks take two readings and their Delta.
func ProcessCPU() CPU {
	out := CPU{}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		data, err := os.ReadFile(f)
		cmd, err2 := os.ReadFile(filepath.Join(filepath.Dir(f), "cmdline"))
		if err != nil || err2 != nil || len(cmd) == 0 {
			continue
		}
		// Redis rewrites its title: "/usr/bin/redis-server 127.0.0.1:6379".
		arg0 := strings.Fields(strings.SplitN(string(cmd), "\x00", 2)[0])
		if len(arg0) == 0 {
			continue
		}
		name := filepath.Base(arg0[0])
		switch {
		case strings.HasPrefix(name, "postgres"):
			name = "postgres"
		case strings.HasPrefix(name, "plattr-operator"):
			name = "plattr-operator" // a spoke's is plattr-operator-<cluster>
		case strings.HasSuffix(name, ".test"):
			name = "test binary"
		case !testGroundProcesses[name]:
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces, so read after its ')'.
		fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
		if len(fields) < 15 {
			continue
		}
		total := 0.0
		for _, f := range fields[11:15] { // utime stime cutime cstime
			v, _ := strconv.ParseFloat(f, 64)
			total += v
		}
		out[name] += total / 100 // clock ticks
	}
	return out
}

// Delta is the CPU seconds each process spent from c to later.
func (c CPU) Delta(later CPU) CPU {
	out := CPU{}
	for k, v := range later {
		out[k] = v - c[k]
	}
	return out
}

// Total adds the CPU seconds of every process.
func (c CPU) Total() float64 {
	t := 0.0
	for _, v := range c {
		t += v
	}
	return t
}

// Ratio is a ÷ b for a benchmark's table, "2.15×", or "—" when b is too small
// to divide by (a process with nothing to do in the baseline).
func Ratio(a, b float64) string {
	if b < 0.05 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

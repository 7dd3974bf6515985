package plattr

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/plattr/plattr/internal/testenv"
)

// helperEnv turns the test binary into the command `plattr dev` runs: its value
// is a comma-separated list of steps, done in order:
//
//	env=FILE    write the environment to FILE
//	ready=FILE  trap SIGTERM, then write the process id to FILE
//	wait        wait for SIGTERM, then exit 42
//	exit=N      exit with status N
const helperEnv = "PLATTR_TEST_DEV_HELPER"

func TestMain(m *testing.M) {
	if code, ok := testenv.RunSQLCommand(); ok { // a release command of the dev tests
		os.Exit(code)
	}
	if steps := os.Getenv(helperEnv); steps != "" {
		os.Exit(helper(steps))
	}
	os.Exit(testenv.Main(m))
}

func helper(steps string) int {
	term := make(chan os.Signal, 1)
	for _, step := range strings.Split(steps, ",") {
		verb, arg, _ := strings.Cut(step, "=")
		switch verb {
		case "env":
			if err := os.WriteFile(arg, []byte(strings.Join(os.Environ(), "\n")), 0o600); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 100
			}
		case "ready":
			signal.Notify(term, syscall.SIGTERM)
			if err := os.WriteFile(arg, []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 100
			}
		case "wait":
			<-term
			return 42
		case "exit":
			n, _ := strconv.Atoi(arg)
			return n
		default:
			fmt.Fprintf(os.Stderr, "unknown helper step %q\n", step)
			return 100
		}
	}
	return 0
}

// Command plattr-gen renders Plattr releases into an environment repo. See
// internal/cli/plattrgen; this file only wires the process to it.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/plattr/plattr/internal/cli/plattrgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := plattrgen.Main(ctx, os.Args[1:], plattrgen.IO{Out: os.Stdout, Err: os.Stderr, Getenv: os.Getenv})
	stop()
	os.Exit(code)
}

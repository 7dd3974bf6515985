// Command plattr-gen renders Plattr releases into an environment repo. See
// internal/cli/plattrgen; this file only wires the process to it.
package main

import (
	"os"

	"github.com/plattr/plattr/internal/cli/plattrgen"
)

func main() {
	os.Exit(plattrgen.Run(os.Args[1:], plattrgen.IO{Out: os.Stdout, Err: os.Stderr, Getenv: os.Getenv}))
}

// Command plattr is the developer's command line (see internal/cli/plattr).
package main

import (
	"context"
	"os"

	"github.com/plattr/plattr/internal/cli/plattr"
)

func main() {
	os.Exit(plattr.Main(context.Background(), os.Args[1:], plattr.IO{Out: os.Stdout, Err: os.Stderr}))
}

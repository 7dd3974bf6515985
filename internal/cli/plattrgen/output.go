package plattrgen

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/spf13/pflag"
)

// bindOutput is every command's --output: text for people, json for workflows.
func bindOutput(f *pflag.FlagSet, output *string) {
	f.StringVar(output, "output", "text", "output format: text or json")
}

func checkOutput(output string) error {
	if output != "text" && output != "json" {
		return usagef("--output must be text or json, is %q", output)
	}
	return nil
}

// writeJSON is --output json: one indented object.
func writeJSON(io IO, v any) error {
	enc := json.NewEncoder(io.Out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// appendStepSummary appends markdown to GitHub Actions' job summary when it
// runs there ($GITHUB_STEP_SUMMARY): without blocking (a FIFO with no reader
// would wait forever), and only into a regular file.
func appendStepSummary(getenv func(string) string, markdown string) error {
	path := getenv("GITHUB_STEP_SUMMARY")
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return fmt.Errorf("write GitHub step summary ($GITHUB_STEP_SUMMARY): %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return errors.New("write GitHub step summary: $GITHUB_STEP_SUMMARY is not a regular file")
	}
	_, err = f.WriteString(markdown)
	return err
}

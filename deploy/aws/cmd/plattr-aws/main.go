// Command plattr-aws is the CDK app of Plattr's AWS stacks: `cdk deploy --app
// 'go run ./cmd/plattr-aws -config plattr-aws.json'` from deploy/aws, or run
// alone to write the templates into -out (cdk.out) without AWS credentials.
//
// `plattr-aws overlay -outputs cdk-outputs.json -out ../../overlays/aws/outputs`
// writes the stacks' outputs into the component overlays/aws includes.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	plattraws "github.com/plattr/plattr/deploy/aws"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "overlay" {
		if err := overlay(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "plattr-aws overlay:", err)
			os.Exit(1)
		}
		return
	}
	config := flag.String("config", "plattr-aws.json", "the stacks' settings (see docs/aws.md)")
	out := flag.String("out", os.Getenv("CDK_OUTDIR"), "where to write the templates (default cdk.out; the CDK CLI sets CDK_OUTDIR)")
	flag.Parse()
	if *out == "" {
		*out = "cdk.out"
	}
	files, err := plattraws.SynthFile(*config, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "plattr-aws:", err)
		os.Exit(1)
	}
	for _, f := range files {
		fmt.Println(f)
	}
}

func overlay(args []string) error {
	fs := flag.NewFlagSet("overlay", flag.ContinueOnError)
	outputs := fs.String("outputs", "cdk-outputs.json", "what cdk deploy --outputs-file wrote")
	out := fs.String("out", filepath.Join("..", "..", "overlays", "aws", "outputs"), "the component's folder")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o, err := plattraws.ReadOutputs(*outputs)
	if err != nil {
		return err
	}
	data, err := plattraws.OverlayComponent(o)
	if err != nil {
		return fmt.Errorf("%s: %w", *outputs, err)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	path := filepath.Join(*out, "kustomization.yaml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return err
	}
	fmt.Println(path)
	return nil
}

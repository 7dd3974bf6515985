// Command plattr-aws is the CDK app of Plattr's AWS stacks: `cdk deploy --app
// 'go run ./cmd/plattr-aws -config plattr-aws.json'` from deploy/aws, or run
// alone to write the templates into -out (cdk.out) without AWS credentials.
package main

import (
	"flag"
	"fmt"
	"os"

	plattraws "github.com/plattr/plattr/deploy/aws"
)

func main() {
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

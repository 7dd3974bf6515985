package aws

import (
	"os"
	"testing"
)

// The machine's Node.js runs the CDK's jsii kernel; the kernel's banner about
// Node 20's end of life says nothing about the templates, so the tests keep
// their output to themselves (docs/aws.md names the Node versions CDK supports).
func TestMain(m *testing.M) {
	os.Setenv("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
	os.Exit(m.Run())
}

// Command build-image writes the operator's image as a tarball (make image).
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"

	"github.com/plattr/plattr/internal/ociimage"
)

func main() {
	var o ociimage.Options
	var ref, out string
	flag.StringVar(&o.Binary, "binary", "", "static binary to put in the image")
	flag.StringVar(&o.Entrypoint, "entrypoint", "/plattr-operator", "its path in the image")
	flag.StringVar(&o.CACerts, "ca-certs", "/etc/ssl/certs/ca-certificates.crt", "CA bundle to include (empty: none)")
	flag.StringVar(&o.OS, "os", "linux", "image OS")
	flag.StringVar(&o.Arch, "arch", runtime.GOARCH, "image architecture")
	flag.StringVar(&ref, "tag", "ghcr.io/plattr/plattr-operator:dev", "image reference to tag the tarball with")
	flag.StringVar(&out, "out", "", "tarball to write")
	flag.Parse()
	if o.Binary == "" || out == "" {
		fmt.Fprintln(os.Stderr, "build-image: -binary and -out are required")
		os.Exit(2)
	}
	if _, err := os.Stat(o.CACerts); o.CACerts != "" && err != nil {
		// Said, not silent: the operator could not verify TLS (Aurora, Keycloak).
		fmt.Fprintf(os.Stderr, "build-image: warning: no CA bundle at %s, the image has none: install ca-certificates, or pass -ca-certs FILE\n", o.CACerts)
		o.CACerts = ""
	}
	img, err := ociimage.Build(o)
	if err == nil {
		err = ociimage.Write(img, ref, out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "build-image:", err)
		os.Exit(1)
	}
	d, _ := img.Digest()
	fmt.Printf("wrote %s (%s, %s/%s)\n", out, d, o.OS, o.Arch)
}

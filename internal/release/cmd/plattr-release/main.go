// Command plattr-release prepares, checks, makes and publishes a release's
// assets besides the CLI archives (goreleaser makes those): `prepare` sets the
// repository's version (make release-prepare), `check` fails when the tag and the
// repository disagree, `assets` writes the operator's image layout, install.yaml
// and the chart package into dist/, `push` copies the image and the chart to a
// registry, `pin` sets overlays/aws to the pushed image by digest,
// `pin-actions` pins the deploy workflow's uses of Plattr's own actions. `make
// release-snapshot` runs `assets`; the release workflow runs check, assets, push
// and pin.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/plattr/plattr/internal/release"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: plattr-release prepare|check|assets|push|pin|pin-actions [flags] (see -h of each)")
		return 2
	}
	fs := flag.NewFlagSet("plattr-release "+args[0], flag.ContinueOnError)
	root := fs.String("root", ".", "the repository's root")
	dist := fs.String("dist", "dist", "the release's folder")
	version := fs.String("version", "", "the release's version, such as v1.2.3 (assets: default goreleaser's)")
	image := fs.String("image", "", "the operator image's repository, such as ghcr.io/acme/plattr-operator")
	amd64 := fs.String("operator-amd64", "", "the operator's linux/amd64 static binary (default: from goreleaser's dist)")
	arm64 := fs.String("operator-arm64", "", "the operator's linux/arm64 static binary (default: from goreleaser's dist)")
	caCerts := fs.String("ca-certs", "/etc/ssl/certs/ca-certificates.crt", "CA bundle the image carries")
	chartRepo := fs.String("chart-repo", "", "push: the registry repository charts go to, such as ghcr.io/acme/charts")
	digest := fs.String("digest", "", "pin: the image's digest (default: the one plattr-release assets wrote into -dist)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	switch args[0] {
	case "pin-actions":
		commit, err := release.PinActions(*root)
		if err != nil {
			fmt.Fprintln(os.Stderr, "plattr-release:", err)
			return 1
		}
		fmt.Printf("%s uses Plattr's own actions at %s\n", ".github/workflows/deploy.yml", commit)
		return 0
	case "prepare", "check":
		if *version == "" {
			fmt.Fprintln(os.Stderr, "plattr-release: -version is required")
			return 2
		}
		if args[0] == "prepare" {
			if err := release.Prepare(*root, *version, time.Now()); err != nil {
				fmt.Fprintln(os.Stderr, "plattr-release:", err)
				return 1
			}
			fmt.Printf("set the repository to %s: commit it (and review CHANGELOG.md's section), then tag that commit %s\n", *version, *version)
			return 0
		}
		v, err := release.RepoVersion(*root)
		if err == nil && v != *version {
			err = fmt.Errorf("the repository is at %s, the tag is %s: run make release-prepare VERSION=%s, commit, and tag that commit", v, *version, *version)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "plattr-release:", err)
			return 1
		}
		return 0
	}
	if args[0] == "assets" && *amd64 == "" && *arm64 == "" {
		// After goreleaser: its dist says the version and where the binaries are.
		g, err := release.ReadGoreleaser(*dist)
		if err != nil {
			fmt.Fprintln(os.Stderr, "plattr-release:", err)
			return 1
		}
		*amd64, *arm64 = g.Operator["linux/amd64"], g.Operator["linux/arm64"]
		if *version == "" {
			*version = g.Version
		}
	}
	if *version == "" || *image == "" {
		fmt.Fprintln(os.Stderr, "plattr-release: -version and -image are required")
		return 2
	}
	manifest := filepath.Join(*dist, "release-assets.json")
	var err error
	switch args[0] {
	case "assets":
		if *amd64 == "" || *arm64 == "" {
			fmt.Fprintln(os.Stderr, "plattr-release assets: -operator-amd64 and -operator-arm64 are required")
			return 2
		}
		if _, serr := os.Stat(*caCerts); serr != nil {
			fmt.Fprintf(os.Stderr, "plattr-release: warning: no CA bundle at %s, the image has none (the operator could not verify TLS)\n", *caCerts)
			*caCerts = ""
		}
		var a *release.Assets
		a, err = release.BuildAssets(*root, *dist, *version, *image, map[string]string{"linux/amd64": *amd64, "linux/arm64": *arm64}, *caCerts)
		if err == nil {
			err = writeJSON(manifest, a)
			fmt.Printf("%s %s@%s\n%s\n%s\n", a.Version, a.Image, a.Digest, a.InstallYAML, a.Chart)
		}
	case "pin":
		if *digest == "" {
			var a release.Assets
			if err = readJSON(manifest, &a); err == nil && (a.Version != *version || a.Image != *image) {
				err = fmt.Errorf("%s is of %s %s, not %s %s: give -digest", manifest, a.Image, a.Version, *image, *version)
			}
			*digest = a.Digest
		}
		if err == nil {
			err = release.Pin(*root, *version, *image, *digest)
		}
		if err == nil {
			fmt.Printf("pinned overlays/aws to %s:%s@%s\n", *image, *version, *digest)
		}
	case "push":
		if *chartRepo == "" {
			fmt.Fprintln(os.Stderr, "plattr-release push: -chart-repo is required")
			return 2
		}
		var a release.Assets
		if err = readJSON(manifest, &a); err == nil {
			if a.Version != *version || a.Image != *image {
				err = fmt.Errorf("%s is of %s %s, not %s %s: run assets again", manifest, a.Image, a.Version, *image, *version)
			} else {
				err = a.Push(*chartRepo, remote.WithAuthFromKeychain(authn.DefaultKeychain))
			}
		}
		if err == nil {
			fmt.Printf("pushed %s:%s (%s) and %s/plattr-operator:%s\n", a.Image, a.Version, a.Digest, *chartRepo, release.ChartVersion(a.Version))
		}
	default:
		fmt.Fprintf(os.Stderr, "plattr-release: unknown command %q: prepare, check, assets, push, pin or pin-actions\n", args[0])
		return 2
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "plattr-release:", err)
		return 1
	}
	return 0
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s (written by plattr-release assets): %w", path, err)
	}
	return json.Unmarshal(data, v)
}

package generator

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/plattr/plattr/internal/urls"
)

// imageRef follows the OCI distribution reference grammar: an optional registry
// host (with port), path components, then ":tag" and/or "@sha256:<64 hex>".
var imageRef = regexp.MustCompile(`^` +
	`(?:(?P<host>[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?)/)?` +
	`(?P<path>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)` +
	`(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?` +
	`(?:@(?P<digest>sha256:[a-f0-9]{64}))?$`)

// Image is a parsed container image reference.
type Image struct {
	Ref    string // as given
	Digest string // "sha256:…", or "" for a tag-only reference
	Tag    string
}

// ShortDigest is the image as commit messages and pull requests show it: its
// digest shortened, "sha256:ab12cd34ef56", or its tag when it has no digest.
func (i Image) ShortDigest() string {
	if i.Digest == "" {
		return i.Tag
	}
	return i.Digest[:len("sha256:")+12]
}

// ShortImage is ShortDigest of a reference read back from a release: the
// reference itself when it does not parse.
func ShortImage(ref string) string {
	img, err := ParseImage(ref, true)
	if err != nil {
		return ref
	}
	return img.ShortDigest()
}

// ImageDigest is a reference's digest ("sha256:…"), or the reference itself
// when it has none (or does not parse).
func ImageDigest(ref string) string {
	img, err := ParseImage(ref, true)
	if err != nil || img.Digest == "" {
		return ref
	}
	return img.Digest
}

// ParseImage checks an image reference. Images must be pinned by digest
// (repo@sha256:…); a tag-only reference is accepted only with allowTag.
func ParseImage(ref string, allowTag bool) (Image, error) {
	m := imageRef.FindStringSubmatch(ref)
	if m == nil || len(ref) > 512 {
		return Image{}, fmt.Errorf("invalid image %s: expected registry/repository@sha256:<64 hex digits>", quoteRef(ref))
	}
	img := Image{Ref: ref, Tag: m[imageRef.SubexpIndex("tag")], Digest: m[imageRef.SubexpIndex("digest")]}
	if img.Digest != "" {
		return img, nil
	}
	if img.Tag == "" {
		return Image{}, fmt.Errorf("invalid image %q: it has neither digest nor tag; pin it by digest (repository@sha256:…)", ref)
	}
	if !allowTag {
		return Image{}, fmt.Errorf("image %q is pinned by tag only: a tag can move, so releases pin images by digest (%s@sha256:…); pass --allow-tag to accept it anyway",
			ref, strings.TrimSuffix(ref, ":"+img.Tag))
	}
	return img, nil
}

// quoteRef quotes a reference that failed to parse for an error message, unless
// it looks like a URL or holds user information (which may carry credentials:
// https://user:token@…, user:token@registry/…), holds
// a control character or is very long: then it is described, not shown.
func quoteRef(ref string) string {
	host, _, _ := strings.Cut(ref, "/")
	if strings.Contains(ref, "://") || strings.Contains(host, "@") || urls.HasControl(ref) || len(ref) > 512 {
		return "(not shown: a URL or a value that is not an image reference)"
	}
	return fmt.Sprintf("%q", ref)
}

// Package urls holds the rules for URLs that may carry credentials: how to show
// one without them, and which text is refused before it is parsed. Every
// message, log or report that names such a URL goes through Redact.
package urls

import (
	"net/url"
	"strings"
)

// Redact is u without its credentials, safe to print: a user name alone can be
// a token (https://<token>@github.com), so the whole user information is
// replaced, not only the password as url.URL.Redacted does.
func Redact(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	if c.User == nil {
		return c.String()
	}
	c.User = nil
	s := c.String()
	if prefix := c.Scheme + "://"; strings.HasPrefix(s, prefix) {
		return prefix + "***@" + strings.TrimPrefix(s, prefix)
	}
	return s
}

// HasControl says whether s holds a control character (below 0x20, or DEL): a
// value read from a file often ends in "\r" or "\n", and such a URL is refused
// before it is parsed, so no parser's error can echo it.
func HasControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0
}

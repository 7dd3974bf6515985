// Package urls holds the rules for URLs that may carry credentials: how to show
// one without them, and which text is refused before it is parsed. Every
// message, log or report that names such a URL goes through Redact.
package urls

import (
	"net/url"
	"strings"
	"unicode"
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

// HasControl says whether s holds a control character (C0, DEL, C1) or a
// Unicode line or paragraph separator: a value read from a file often ends in
// "\r" or "\n", and readers that split lines on U+0085, U+2028 or U+2029 would
// see a second line (a forged commit trailer). Such a value is refused before it
// is parsed, so no parser's error can echo it.
func HasControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' }) >= 0
}

// LostScheme says whether a value meant as a URL or path looks like a URL that
// lost its scheme ("https//user:token@host/…", "user:token@host/…"): no "://"
// but an '@', which a path rarely holds and user information always does. Such
// a value is refused and never shown (it may hold credentials).
func LostScheme(s string) bool {
	return !strings.Contains(s, "://") && strings.Contains(s, "@")
}

package gitops

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/plattr/plattr/generator/names"
	"github.com/plattr/plattr/internal/urls"
)

// ErrPlainHTTP is matched by the error for an http:// URL that credentials or the
// env repo's content would cross unprotected: plain http is allowed only with
// WithAllowHTTP (plattr-gen's --allow-http), and then only to a loopback address
// (a test server).
var ErrPlainHTTP = errors.New("plain http is refused")

type plainHTTPError struct{ msg string }

func (e *plainHTTPError) Error() string        { return e.msg }
func (e *plainHTTPError) Is(target error) bool { return target == ErrPlainHTTP }

// Location is a checked env repo location, safe to print.
type Location struct {
	// Display is the location without its credentials.
	Display string
	// Local is true for a local path or a file:// URL: no credentials are sent.
	Local bool
	// URLCredentials is true when the URL carries credentials: they, not the
	// token, authenticate the requests.
	URLCredentials bool
}

// location is a parsed env repo location: a local path, or a URL without its
// credentials (those are in user).
type location struct {
	path string
	url  *url.URL
	user *url.Userinfo
}

// CheckLocation applies the rules of Open to an env repo location (a local path
// or an http(s) URL) without touching the network or the disk, so that a command
// line can be refused before anything runs. The error never holds the location
// unless it was parsed and its credentials removed.
func CheckLocation(raw string, allowHTTP bool) (Location, error) {
	loc, err := parseLocation(raw, allowHTTP)
	if err != nil {
		return Location{}, err
	}
	if loc.url == nil {
		return Location{Display: loc.path, Local: true}, nil
	}
	return Location{Display: urls.Redact(loc.url), Local: loc.url.Scheme == "file", URLCredentials: loc.user != nil}, nil
}

// CheckURL applies the same rules to a URL a token is sent to in a header (the
// GitHub API's): an https:// URL (http:// only to a loopback address when
// allowHTTP) without credentials of its own.
func CheckURL(raw string, allowHTTP bool) (*url.URL, error) {
	loc, err := parseLocation(raw, allowHTTP)
	switch {
	case err != nil:
		return nil, err
	case loc.url == nil || (loc.url.Scheme != "https" && loc.url.Scheme != "http"):
		return nil, errors.New("is not an https:// URL")
	case loc.user != nil:
		return nil, fmt.Errorf("carries credentials (%s): remove them; the token is read from %s", urls.Redact(loc.url), strings.Join(tokenVars, " or "))
	}
	return loc.url, nil
}

// parseLocation is the one place the rules for a location live. Control
// characters are refused before parsing, so that no parser's message can echo
// the text; a URL that does not parse is described, never shown.
func parseLocation(raw string, allowHTTP bool) (location, error) {
	if raw == "" {
		return location{}, errors.New("is empty: give a local path or an https:// URL")
	}
	if err := controlError(raw, "it may hold credentials"); err != nil {
		return location{}, err
	}
	if !strings.Contains(raw, "://") {
		host, path, ok := scpLike(raw)
		switch {
		case ok && !strings.Contains(path, "@"):
			return location{}, sshError(host, path)
		case urls.LostScheme(raw):
			// "https//x-access-token:SECRET@github.com/acme/env" lost its colon:
			// read as a path, it would be printed ("does not exist") with the
			// token in it. A local repo whose path holds '@' is rare; a file://
			// URL reaches it.
			return location{}, errNoScheme
		}
		return location{path: raw}, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return location{}, fmt.Errorf("is not a valid URL (%s; the value is not shown: it may hold credentials)", parseProblem(err))
	}
	switch u.Scheme {
	case "ssh", "git+ssh", "ssh+git":
		return location{}, sshError(u.Hostname(), u.Path)
	case "git":
		return location{}, errors.New("uses git://, which is neither authenticated nor encrypted: use an https:// URL")
	case "file":
		if u.User != nil {
			return location{}, errors.New("is a file:// URL with credentials: a local repo takes none")
		}
		return location{url: u}, nil
	case "https":
	case "http":
		if !allowHTTP {
			return location{}, &plainHTTPError{fmt.Sprintf("uses plain http (%s), which would carry credentials and content unprotected: use https://",
				urls.Redact(u))}
		}
		if !isLoopback(u.Hostname()) {
			return location{}, &plainHTTPError{fmt.Sprintf("uses plain http to %s, which is not a loopback address: plain http is for a test server on 127.0.0.1, ::1 or localhost only",
				u.Hostname())}
		}
	default:
		return location{}, fmt.Errorf("uses scheme %q, which is not supported: use an https:// URL or a local path", u.Scheme)
	}
	if u.Hostname() == "" {
		return location{}, fmt.Errorf("has no host (%s)", urls.Redact(u))
	}
	user := u.User
	u.User = nil
	return location{url: u, user: user}, nil
}

// errNoScheme is a location that is neither a URL nor, probably, a path.
var errNoScheme = errors.New("looks like a URL without its scheme (it holds '@' but no \"://\"; not shown: it may hold credentials): " +
	"write it as https://…; a local path that holds '@' is given as a file:// URL")

// controlError refuses a value holding a control character (urls.HasControl),
// saying where, never what: why says why the value is not shown.
func controlError(value, why string) error {
	i := strings.IndexFunc(value, func(r rune) bool { return urls.HasControl(string(r)) })
	if i < 0 {
		return nil
	}
	r, _ := utf8.DecodeRuneInString(value[i:])
	return fmt.Errorf("contains a control character (%#02x at byte %d; a line ending read from a file?): remove it (the value is not shown: %s)", r, i, why)
}

// isLoopback says whether host is a loopback address or "localhost". Other names
// are not resolved: what a name resolves to can change between the check and the
// connection.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// scpLike recognises git's scp-like SSH syntax, [user@]host:path, as git does: a
// colon before any slash. It returns the host and path (never the user, which can
// be a token).
func scpLike(raw string) (host, path string, ok bool) {
	colon := strings.IndexByte(raw, ':')
	if colon < 0 {
		return "", "", false
	}
	if slash := strings.IndexByte(raw, '/'); slash >= 0 && slash < colon {
		return "", "", false
	}
	host = raw[:colon]
	if at := strings.LastIndexByte(host, '@'); at >= 0 {
		host = host[at+1:]
	}
	return host, raw[colon+1:], true
}

// dnsName is a host name with at least one dot: git.example.com, not a token.
var dnsName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$`)

// sshError says SSH is not supported and, when the URL is plainly a repository
// on a server (a host name with a dot, a path owner/name or owner/name.git),
// which https:// URL to use instead. Otherwise nothing of it is repeated: in
// "x-access-token:SECRET", read as SSH, the "host" is a user name and the
// "path" a token.
func sshError(host, path string) error {
	repo := strings.TrimSuffix(strings.TrimPrefix(path, "/"), ".git")
	if dnsName.MatchString(host) && names.Repo(repo) == nil {
		u := url.URL{Scheme: "https", Host: host, Path: "/" + strings.TrimPrefix(path, "/")}
		return fmt.Errorf("is an SSH URL, and SSH is not supported: use %s, with a token in %s", u.String(), strings.Join(tokenVars, " or "))
	}
	return fmt.Errorf("is an SSH URL, and SSH is not supported (not shown: it may hold credentials): use an https:// URL, with a token in %s", strings.Join(tokenVars, " or "))
}

// parseProblem words what url.Parse disliked without quoting the input: its
// messages quote parts of it (an "invalid port" quotes what follows the last
// colon, which is a password when the host was left out).
func parseProblem(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var esc url.EscapeError
	var host url.InvalidHostError
	switch {
	case errors.As(err, &esc):
		return "a %-escape is malformed"
	case errors.As(err, &host):
		return "its host has a character a host cannot have"
	case strings.Contains(err.Error(), "invalid port"):
		return "its port is not a number"
	case strings.Contains(err.Error(), "userinfo"):
		return "its user information is malformed"
	}
	return "it does not parse"
}

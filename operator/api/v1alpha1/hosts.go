package v1alpha1

import (
	"net"
	"strings"
)

// IsLoopbackHost says whether host (optionally with a port, "[::1]:8080") names
// this machine by convention: localhost and *.localhost (RFC 6761), localtest.me
// and *.localtest.me (public DNS that answers 127.0.0.1), or a loopback IP
// (127.0.0.0/8, ::1). Such a host is only ever served to the developer's own
// browser; it is the one test of it that the operator's services and plattr-gen
// share, so what counts as loopback cannot differ between them.
func IsLoopbackHost(host string) bool {
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	name = strings.TrimSuffix(strings.ToLower(strings.Trim(name, "[]")), ".")
	if ip := net.ParseIP(name); ip != nil {
		return ip.IsLoopback()
	}
	for _, suffix := range []string{"localhost", "localtest.me"} {
		if name == suffix || strings.HasSuffix(name, "."+suffix) {
			return true
		}
	}
	return false
}

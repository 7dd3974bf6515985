// Package ghtoken sends a GitHub token to the API's own host only.
// go-github's WithAuthToken adds it to every request its client makes,
// redirects to other hosts included; a Transport of this package does not.
package ghtoken

import (
	"net/http"
	"strings"
)

// Transport adds "Authorization: Bearer Token" to requests for Scheme://Host
// (set them from the client's base URL once it is known) and to no other.
type Transport struct {
	Base         http.RoundTripper // nil: http.DefaultTransport
	Token        string
	Scheme, Host string
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if t.Host != "" && req.URL.Scheme == t.Scheme && strings.EqualFold(req.URL.Host, t.Host) {
		req = req.Clone(req.Context())
		req.Header.Set("Authorization", "Bearer "+t.Token)
	}
	return base.RoundTrip(req)
}

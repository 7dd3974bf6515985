package v1alpha1

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestIsLoopbackHost(t *testing.T) {
	for _, tc := range []struct {
		host   string
		want   bool
		reason string
	}{
		{"localhost", true, "RFC 6761"},
		{"localhost:3000", true, "plattr dev's host carries the port"},
		{"LocalHost", true, "DNS names are case-insensitive"},
		{"localhost.", true, "the fully qualified form"},
		{"app.localhost", true, "RFC 6761 reserves every name under localhost"},
		{"shop.local.localtest.me", true, "plattr deploy local's base domain"},
		{"localtest.me", true, "answers 127.0.0.1 too"},
		{"127.0.0.1", true, "loopback IPv4"},
		{"127.8.9.10:8080", true, "all of 127.0.0.0/8 is loopback"},
		{"[::1]:8080", true, "loopback IPv6 with a port"},
		{"::1", true, "loopback IPv6"},
		{"shop.staging.example.com", false, "a real name"},
		{"localhost.example.com", false, "localhost only as a suffix counts"},
		{"localtest.me.evil.example", false, "an attacker's domain that starts like one"},
		{"evillocalhost", false, "a label ending in localhost is not under localhost"},
		{"notlocaltest.me", false, "a sibling domain of localtest.me"},
		{"10.0.0.1", false, "an IP literal, but not loopback (the generator refuses it for other reasons)"},
		{"", false, "no host at all"},
	} {
		assert.Equal(t, tc.want, IsLoopbackHost(tc.host), "%q: %s", tc.host, tc.reason)
	}
}

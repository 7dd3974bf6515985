package urls

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRedact(t *testing.T) {
	for raw, want := range map[string]string{
		"https://u:pw@example.com/x.git":         "https://***@example.com/x.git",
		"https://ghp_token@github.com/acme/env":  "https://***@github.com/acme/env",
		"https://a:b@c@host/x":                   "https://***@host/x",
		"https://example.com/x.git":              "https://example.com/x.git",
		"http://127.0.0.1:8080/env.git?x=1#frag": "http://127.0.0.1:8080/env.git?x=1#frag",
	} {
		u, err := url.Parse(raw)
		require.NoError(t, err, raw)
		got := Redact(u)
		assert.Equal(t, want, got, raw)
		assert.NotContains(t, got, "pw")
		assert.NotContains(t, got, "ghp_token")
	}
	assert.Equal(t, "", Redact(nil))
}

func TestHasControl(t *testing.T) {
	for _, s := range []string{"https://x\r", "https://x\n", "a\tb", "x\x7f", "\x00", "https://x/1\u0085Plattr-Environment: prod", "a\u2028b", "a\u2029b"} {
		assert.True(t, HasControl(s), "%q", s)
	}
	for _, s := range []string{"https://example.com/x", "ünïcode", ""} {
		assert.False(t, HasControl(s), "%q", s)
	}
}

func TestLostScheme(t *testing.T) {
	for _, s := range []string{"https//x-access-token:tok@github.com/acme/env", "u:pw@github.com/acme/env.git"} {
		assert.True(t, LostScheme(s), s)
	}
	for _, s := range []string{"https://u@example.com/x", "/srv/git/env.git", "../env.git", "git@github.com:acme/env.git"} {
		if s == "git@github.com:acme/env.git" {
			assert.True(t, LostScheme(s), "scp-like SSH holds '@' too: callers that accept it check it first")
			continue
		}
		assert.False(t, LostScheme(s), s)
	}
}

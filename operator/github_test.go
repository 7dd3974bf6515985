package operator

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// GitHub access is optional; a GitHub App's settings that cannot work are
// refused at start, naming the variable.
func TestGitHubDeployments_Config(t *testing.T) {
	gh, err := GitHubDeployments(Config{})
	require.NoError(t, err)
	assert.Nil(t, gh, "not configured")
	gh, err = GitHubDeployments(Config{GitHubToken: "t"})
	require.NoError(t, err)
	assert.NotNil(t, gh)
	_, err = GitHubDeployments(Config{GitHubAppID: "acme", GitHubAppPrivateKey: []byte("x")})
	assert.EqualError(t, err, `GITHUB_APP_ID "acme" is not a GitHub App's ID (a number)`)
	_, err = GitHubDeployments(Config{GitHubAppID: "42", GitHubAppPrivateKey: []byte("-----BEGIN nothing")})
	assert.EqualError(t, err, "GITHUB_APP_PRIVATE_KEY: the GitHub App's private key is not PEM")
}

package ghdeploy

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v62/github"
)

// ParsePrivateKey reads a GitHub App's private key (the PEM GitHub gives:
// PKCS#1, or PKCS#8).
func ParsePrivateKey(pemData []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(pemData)
	if block == nil {
		return nil, errors.New("the GitHub App's private key is not PEM")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("the GitHub App's private key is neither a PKCS#1 nor a PKCS#8 RSA key")
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("the GitHub App's private key is not an RSA key")
	}
	return rk, nil
}

// NewApp is a client that authenticates as the GitHub App appID: each request
// to a repository carries the token of the app's installation on it, made
// from a JWT signed with key and kept until a minute before it expires.
func NewApp(appID int64, key *rsa.PrivateKey, apiURL string) (*Client, error) {
	if appID <= 0 || key == nil {
		return nil, errors.New("a GitHub App needs its ID and private key")
	}
	t := &appTransport{appID: appID, key: key, base: http.DefaultTransport, now: time.Now,
		installations: map[string]int64{}, tokens: map[int64]cachedToken{}}
	app, err := enterprise(github.NewClient(&http.Client{Transport: jwtTransport{t}}), apiURL)
	if err != nil {
		return nil, err
	}
	t.app = app
	gh, err := enterprise(github.NewClient(&http.Client{Transport: t}), apiURL)
	if err != nil {
		return nil, err
	}
	return &Client{gh: gh}, nil
}

func enterprise(gh *github.Client, apiURL string) (*github.Client, error) {
	if apiURL == "" || strings.TrimSuffix(apiURL, "/") == "https://api.github.com" {
		return gh, nil
	}
	gh, err := gh.WithEnterpriseURLs(apiURL, apiURL)
	if err != nil {
		return nil, fmt.Errorf("GitHub API URL: %w", err)
	}
	return gh, nil
}

type cachedToken struct {
	value   string
	expires time.Time
}

// appTransport puts the installation token of the repository a request is
// about into it.
type appTransport struct {
	appID int64
	key   *rsa.PrivateKey
	base  http.RoundTripper
	app   *github.Client // authenticated by the app's JWT
	now   func() time.Time

	mu            sync.Mutex
	installations map[string]int64 // owner/name → installation
	tokens        map[int64]cachedToken
}

func (t *appTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	_, rest, ok := strings.Cut(req.URL.Path, "/repos/")
	parts := strings.SplitN(rest, "/", 3)
	if !ok || len(parts) < 2 {
		return nil, fmt.Errorf("GitHub App: %s is not a request about a repository", req.URL.Path)
	}
	token, err := t.token(req.Context(), parts[0], parts[1])
	if err != nil {
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+token)
	return t.base.RoundTrip(r)
}

// token is the installation token for owner/repo: cached, or made anew.
func (t *appTransport) token(ctx context.Context, owner, repo string) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	id, ok := t.installations[owner+"/"+repo]
	if !ok {
		inst, _, err := t.app.Apps.FindRepositoryInstallation(ctx, owner, repo)
		if err != nil {
			return "", describe(fmt.Sprintf("find the GitHub App %d's installation on %s/%s", t.appID, owner, repo), err)
		}
		id = inst.GetID()
		t.installations[owner+"/"+repo] = id
	}
	if c, ok := t.tokens[id]; ok && t.now().Add(time.Minute).Before(c.expires) {
		return c.value, nil
	}
	tok, _, err := t.app.Apps.CreateInstallationToken(ctx, id, nil)
	if err != nil {
		delete(t.installations, owner+"/"+repo) // uninstalled, maybe: look again next time
		return "", describe(fmt.Sprintf("create a token of the GitHub App %d's installation %d", t.appID, id), err)
	}
	t.tokens[id] = cachedToken{value: tok.GetToken(), expires: tok.GetExpiresAt().Time}
	return tok.GetToken(), nil
}

// jwt is the app's JSON Web Token as GitHub wants it: RS256, issued a minute
// ago (clock drift), valid for nine minutes.
func (t *appTransport) jwt() (string, error) {
	now := t.now()
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	claims, err := json.Marshal(map[string]any{"iat": now.Add(-time.Minute).Unix(), "exp": now.Add(9 * time.Minute).Unix(), "iss": strconv.FormatInt(t.appID, 10)})
	if err != nil {
		return "", err
	}
	signing := header + "." + base64.RawURLEncoding.EncodeToString(claims)
	digest := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, t.key, crypto.SHA256, digest[:])
	if err != nil {
		return "", err
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// jwtTransport authenticates the app's own requests with its JWT.
type jwtTransport struct{ t *appTransport }

func (j jwtTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	token, err := j.t.jwt()
	if err != nil {
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+token)
	return j.t.base.RoundTrip(r)
}

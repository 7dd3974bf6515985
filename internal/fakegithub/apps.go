package fakegithub

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// A GitHub App as the fake knows it: its public key, and its installations
// (each on some repositories).
type app struct {
	key           *rsa.PublicKey
	installations map[int64][]string // id → owner/name
}

type installationToken struct {
	installation int64
	app          int64
	repos        []string
	expires      time.Time
}

// InstallationTokenLifetime is how long GitHub's installation tokens live.
const InstallationTokenLifetime = time.Hour

// AddApp registers a GitHub App: requests signed with its private key (a JWT
// whose iss is id) may find its installations and create their tokens.
func (s *Server) AddApp(id int64, key *rsa.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.apps == nil {
		s.apps = map[int64]*app{}
	}
	s.apps[id] = &app{key: key, installations: map[int64][]string{}}
}

// Install installs app id on repositories (owner/name) and returns the
// installation's ID.
func (s *Server) Install(id int64, repos ...string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst := s.nextID()
	s.apps[id].installations[inst] = repos
	return inst
}

// InstallationTokens is how many installation tokens were created.
func (s *Server) InstallationTokens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tokens)
}

var (
	repoInstallation = regexp.MustCompile(`^/api/v3/repos/([^/]+)/([^/]+)/installation$`)
	accessTokens     = regexp.MustCompile(`^/api/v3/app/installations/(\d+)/access_tokens$`)
	repoPath         = regexp.MustCompile(`^/api/v3/repos/([^/]+)/([^/]+)/`)
)

// DefaultLogin is the user the fake's own token belongs to.
const DefaultLogin = "octocat"

// AppLogin is the bot user a GitHub App acts as with its installation tokens
// (GitHub names it "<app slug>[bot]").
func AppLogin(appID int64) string { return fmt.Sprintf("app-%d[bot]", appID) }

// AddUser makes token another valid token, of user login: what it creates
// names login as its creator.
func (s *Server) AddUser(token, login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[token] = login
}

// authorize decides a request's credentials as GitHub does: the token the
// fake was made with; a GitHub App's JWT, for the app's own endpoints only; an
// installation token, for its installation's repositories only (another
// repository is Not Found). It writes the refusal and reports false. s.mu is held.
func (s *Server) authorize(w http.ResponseWriter, req *http.Request) bool {
	auth := req.Header.Get("Authorization")
	if auth == "Bearer "+s.Token || auth == "token "+s.Token {
		s.caller = DefaultLogin
		return true
	}
	bearer, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		bearer, ok = strings.CutPrefix(auth, "token ")
	}
	if ok && strings.Count(bearer, ".") == 2 {
		appID, msg := s.verifyJWT(bearer)
		if msg != "" {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": msg, "documentation_url": "https://docs.github.com/rest"})
			return false
		}
		s.serveApp(w, req, appID)
		return false // answered
	}
	if login, found := s.users[bearer]; ok && found {
		s.caller = login
		return true
	}
	if t, found := s.tokens[bearer]; ok && found {
		if time.Now().After(t.expires) {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
			return false
		}
		m := repoPath.FindStringSubmatch(req.URL.Path)
		if m == nil || !contains(t.repos, m[1]+"/"+m[2]) {
			notFound(w)
			return false
		}
		s.caller = AppLogin(t.app)
		return true
	}
	writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
	return false
}

// serveApp answers what a GitHub App's JWT may do: find an installation of a
// repository, and create an installation's token.
func (s *Server) serveApp(w http.ResponseWriter, req *http.Request, appID int64) {
	a := s.apps[appID]
	if m := repoInstallation.FindStringSubmatch(req.URL.Path); m != nil && req.Method == http.MethodGet {
		for id, repos := range a.installations {
			if contains(repos, m[1]+"/"+m[2]) {
				writeJSON(w, http.StatusOK, map[string]any{"id": id, "app_id": appID, "target_type": "Organization"})
				return
			}
		}
		notFound(w)
		return
	}
	if m := accessTokens.FindStringSubmatch(req.URL.Path); m != nil && req.Method == http.MethodPost {
		id, _ := strconv.ParseInt(m[1], 10, 64)
		repos, ok := a.installations[id]
		if !ok {
			notFound(w)
			return
		}
		b := make([]byte, 18)
		_, _ = rand.Read(b)
		token := "ghs_" + hex.EncodeToString(b)
		expires := time.Now().Add(InstallationTokenLifetime)
		s.tokens[token] = installationToken{installation: id, app: appID, repos: repos, expires: expires}
		writeJSON(w, http.StatusCreated, map[string]any{"token": token, "expires_at": expires.UTC().Format(time.RFC3339),
			"permissions": map[string]string{"deployments": "write", "statuses": "write", "metadata": "read"}})
		return
	}
	// GitHub answers other endpoints called with an app's JWT as unauthorised.
	writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "A JSON web token could not be decoded", "documentation_url": "https://docs.github.com/rest"})
}

// verifyJWT checks a GitHub App's JWT as GitHub does (RS256 by a registered
// app's key, iss its ID, iat not in the future, exp at most 10 minutes after
// iat and not passed) and returns the app, or GitHub's message.
func (s *Server) verifyJWT(token string) (int64, string) {
	parts := strings.Split(token, ".")
	header, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	body, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	var h struct{ Alg string }
	var c struct {
		Iat, Exp int64
		Iss      json.RawMessage
	}
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(header, &h) != nil || json.Unmarshal(body, &c) != nil || h.Alg != "RS256" {
		return 0, "A JSON web token could not be decoded"
	}
	iss, err := strconv.ParseInt(strings.Trim(string(c.Iss), `"`), 10, 64)
	a := s.apps[iss]
	if err != nil || a == nil {
		return 0, "Integration not found"
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(a.key, crypto.SHA256, digest[:], sig) != nil {
		return 0, "A JSON web token could not be decoded"
	}
	now := time.Now().Unix()
	switch {
	case c.Exp < now:
		return 0, "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
	case c.Iat > now+60:
		return 0, "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
	case c.Exp-c.Iat > 600:
		return 0, "'Expiration time' claim ('exp') is too far in the future"
	}
	return iss, ""
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/internal/testenv"
)

// ArgoCDAPI calls argocd-server's REST API as its admin (the calls Argo CD's
// UI makes), decoding the answer into out (nil: ignored). It fails the test
// on an error status, showing Argo CD's message.
func (l *Loop) ArgoCDAPI(method, path string, body, out any) {
	l.T.Helper()
	require.NotEmpty(l.T, l.Argo.Server, "the loop was made without Options.ArgoCDServer")
	if l.argoToken == "" {
		var session struct{ Token string }
		l.argoCall(http.MethodPost, "/api/v1/session", "", map[string]string{"username": "admin", "password": l.Argo.AdminPassword}, &session)
		l.argoToken = session.Token
	}
	l.argoCall(method, path, l.argoToken, body, out)
}

func (l *Loop) argoCall(method, path, token string, body, out any) {
	l.T.Helper()
	data, err := json.Marshal(body)
	require.NoError(l.T, err)
	req, err := http.NewRequestWithContext(l.Ctx, method, l.Argo.Server+path, bytes.NewReader(data))
	require.NoError(l.T, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	require.NoError(l.T, err)
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	require.NoError(l.T, err)
	require.Less(l.T, resp.StatusCode, 300, "argocd-server %s %s: %d %s", method, path, resp.StatusCode, got)
	if out != nil {
		require.NoError(l.T, json.Unmarshal(got, out), "%s", got)
	}
}

// StartRollbackController runs Plattr's rollback controller as its users do
// (the operator's binary, "plattr-operator rollbacks") against the hub's
// Argo CD, with the env repo and the fake GitHub.
func (l *Loop) StartRollbackController() {
	l.T.Helper()
	bin := l.operator + "-rollbacks" // its log is named after it
	require.NoError(l.T, os.Link(l.operator, bin))
	env := append(os.Environ(), "KUBECONFIG="+l.Hub.C.Kubeconfig, "PLATTR_GIT_TOKEN="+l.token)
	testenv.StartProcess(l.T, bin, []string{"rollbacks", "--env-repo=" + l.RepoURL, "--github-repo=" + EnvRepo,
		"--github-api-url=" + l.GitHub.BaseURL(), "--namespace=" + l.Argo.Namespace, "--allow-http",
		"--leader-elect=false", "--metrics-bind-address=0", "--health-probe-bind-address=0"}, env)
	l.T.Logf("         started Plattr's rollback controller (plattr-operator rollbacks) on Argo CD's namespace %s", l.Argo.Namespace)
}

// argoHistoryID is the ID of the newest entry of an Application's sync
// history at another revision than not.
func argoHistoryID(history []struct {
	ID       int64  `json:"id"`
	Revision string `json:"revision"`
}, not string) (int64, error) {
	for i := len(history) - 1; i >= 0; i-- {
		if history[i].Revision != not {
			return history[i].ID, nil
		}
	}
	return 0, fmt.Errorf("no sync history at another revision than %.8s", not)
}

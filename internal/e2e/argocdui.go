package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/go-logr/logr/testr"

	"github.com/plattr/plattr/generator"
	"github.com/plattr/plattr/gitops"
	"github.com/plattr/plattr/gitops/pulls"
	"github.com/plattr/plattr/internal/testenv"
	"github.com/plattr/plattr/uirollback"
)

// ArgoCDAPI calls argocd-server's REST API as its admin (the calls Argo CD's
// UI makes), decoding the answer into out (nil: ignored). It fails the test
// on an error status, showing Argo CD's message.
func (l *Loop) ArgoCDAPI(method, path string, body, out any) {
	l.T.Helper()
	require.NotEmpty(l.T, l.Argo.Server, "the loop was made without Options.ArgoCDServer")
	if l.argoToken == "" {
		var session struct{ Token string }
		l.argoCall(method, "/api/v1/session", "", map[string]string{"username": "admin", "password": l.Argo.AdminPassword}, &session)
		l.argoToken = session.Token
	}
	l.argoCall(method, path, l.argoToken, body, out)
}

func (l *Loop) argoCall(method, path, token string, body, out any) {
	l.T.Helper()
	if path == "/api/v1/session" {
		method = http.MethodPost
	}
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

// StartRollbackController runs Plattr's rollback controller (uirollback)
// against the hub's Argo CD, with the env repo and the fake GitHub, until the
// test ends.
func (l *Loop) StartRollbackController() {
	l.T.Helper()
	c := l.Hub.C
	mgr, err := manager.New(c.Config, manager.Options{Scheme: testenv.Scheme(),
		Cache:   cache.Options{DefaultNamespaces: map[string]cache.Config{l.Argo.Namespace: {}}},
		Metrics: metricsserver.Options{BindAddress: "0"}, Logger: testr.New(l.T)})
	require.NoError(l.T, err)
	prs, err := pulls.New(l.token, EnvRepo, pulls.WithBaseURL(l.GitHub.BaseURL()))
	require.NoError(l.T, err)
	r := &uirollback.Reconciler{Client: mgr.GetClient(), Namespace: l.Argo.Namespace, PullRequests: prs, Log: testr.New(l.T),
		Open: func(ctx context.Context) (*gitops.Repo, error) {
			return gitops.Open(ctx, l.RepoURL, generator.Validate, gitops.WithToken(l.token), gitops.WithAllowHTTP())
		}}
	require.NoError(l.T, r.SetupWithManager(mgr))
	ctx, cancel := context.WithCancel(l.Ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	l.T.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			l.T.Errorf("the rollback controller: %v", err)
		}
	})
	l.T.Logf("         started Plattr's rollback controller (uirollback) on Argo CD's namespace %s", l.Argo.Namespace)
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

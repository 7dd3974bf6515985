package operator

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	authenticationv1 "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationv1 "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// DefaultMetricsAddr is where the operator and the rollback controller serve
// /metrics unless told otherwise.
const DefaultMetricsAddr = ":8443"

// MetricsReaderRole is the ClusterRole (bases/operator, the chart) whose
// binding lets a ServiceAccount scrape /metrics: Prometheus's, typically.
const MetricsReaderRole = "plattr-metrics-reader"

// Both processes' ServiceAccounts may ask the API server who a caller is and
// what it may do: the metrics endpoint's authentication and authorization.
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// MetricsOptions is how the operator and the rollback controller serve
// Prometheus metrics on addr ("0" turns the endpoint off). Secure (the
// default): HTTPS, with the certificate and key in certDir (tls.crt, tls.key,
// reloaded when they change; cert-manager's Secret mounted there) or, without
// them, a self-signed one made in memory at start; every request must carry a
// bearer token the API server accepts (a TokenReview) whose identity may get
// the non-resource URL /metrics (a SubjectAccessReview: MetricsReaderRole
// grants it). Anything else is answered 401 or 403 (authFilter). HTTP/2 is
// off (the rapid reset attacks on Go's server). Not secure: plain HTTP to
// whoever reaches the port, for a loopback address or a test.
func MetricsOptions(addr string, secure bool, certDir string) metricsserver.Options {
	if !secure {
		return metricsserver.Options{BindAddress: addr}
	}
	return metricsserver.Options{
		BindAddress:    addr,
		SecureServing:  true,
		CertDir:        certDir,
		FilterProvider: authFilter,
		TLSOpts: []func(*tls.Config){func(c *tls.Config) {
			c.NextProtos = []string{"http/1.1"}
			c.MinVersion = tls.VersionTLS12
		}},
	}
}

// authFilter authenticates every request to the metrics endpoint with a
// TokenReview and authorizes it with a SubjectAccessReview (get on its path),
// answers cached as the API server's own delegated authentication does. It is
// controller-runtime's filters.WithAuthenticationAndAuthorization but for what
// a caller sees when the review fails: like the API server, a token it
// rejects (forged, expired, malformed) gets 401, not 500, and is logged as one
// line without the token, not as an error with a stack trace per request.
func authFilter(config *rest.Config, httpClient *http.Client) (metricsserver.Filter, error) {
	authn, err := authenticationv1.NewForConfigAndClient(config, httpClient)
	if err != nil {
		return nil, err
	}
	authz, err := authorizationv1.NewForConfigAndClient(config, httpClient)
	if err != nil {
		return nil, err
	}
	backoff := &wait.Backoff{Duration: 500 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 5}
	authenticator, _, err := authenticatorfactory.DelegatingAuthenticatorConfig{
		Anonymous:                &apiserver.AnonymousAuthConfig{Enabled: false},
		CacheTTL:                 time.Minute,
		TokenAccessReviewClient:  authn,
		TokenAccessReviewTimeout: 10 * time.Second,
		WebhookRetryBackoff:      backoff,
	}.New()
	if err != nil {
		return nil, fmt.Errorf("metrics authentication: %w", err)
	}
	authorize, err := authorizerfactory.DelegatingAuthorizerConfig{
		SubjectAccessReviewClient: authz,
		AllowCacheTTL:             5 * time.Minute,
		DenyCacheTTL:              30 * time.Second,
		WebhookRetryBackoff:       backoff,
	}.New()
	if err != nil {
		return nil, fmt.Errorf("metrics authorization: %w", err)
	}
	return func(log logr.Logger, next http.Handler) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			res, ok, err := authenticator.AuthenticateRequest(req)
			if err != nil || !ok {
				if err != nil {
					log.Info("refused a metrics request: its token was not accepted", "remote", req.RemoteAddr, "reason", err.Error())
				}
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
				return
			}
			user := res.User.GetName()
			decision, _, err := authorize.Authorize(req.Context(), authorizer.AttributesRecord{
				User: res.User, Verb: strings.ToLower(req.Method), Path: req.URL.Path})
			if err != nil {
				log.Error(err, "authorize a metrics request", "user", user)
				http.Error(w, "authorization failed: the API server's answer is missing, try again", http.StatusInternalServerError)
				return
			}
			if decision != authorizer.DecisionAllow {
				log.V(1).Info("refused a metrics request: not allowed", "user", user)
				http.Error(w, fmt.Sprintf("Forbidden: %s may not get %s (bind the %s ClusterRole)", user, req.URL.Path, MetricsReaderRole), http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, req)
		}), nil
	}, nil
}

// Package operator wires the Plattr operator: its configuration, the backing-service
// provisioners it builds from that configuration, the manager's cache settings and
// the Application controller. cmd/plattr-operator only parses flags and calls it.
package operator

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/controller"
	"github.com/plattr/plattr/operator/ghdeploy"
	"github.com/plattr/plattr/operator/services"
	"github.com/plattr/plattr/operator/services/keycloak"
	"github.com/plattr/plattr/operator/services/opensearch"
	"github.com/plattr/plattr/operator/services/postgres"
	"github.com/plattr/plattr/operator/services/redis"
)

// Config is the operator's configuration, from flags and the environment.
type Config struct {
	// BaseDomain (PLATTR_BASE_DOMAIN) for default hosts.
	BaseDomain string
	// ProductionEnv names the production environment (default "prod").
	ProductionEnv string
	// IngressClass and ClusterIssuer shape Ingresses.
	IngressClass, ClusterIssuer string
	// SecretStore (PLATTR_SECRET_STORE) is the ClusterSecretStore of the apps'
	// own secrets (default controller.DefaultSecretStore).
	SecretStore string
	// DBAdminURL (DB_ADMIN_URL): PostgreSQL admin with CREATEDB and CREATEROLE.
	DBAdminURL string
	// DBAppHost and DBAppPort, when set, are what apps connect to instead of the
	// admin URL's host.
	DBAppHost, DBAppPort string
	// DBAppCA (DB_APP_CA) is the sslrootcert of the apps' DATABASE_URL: a path in
	// the app's pod, or "system" (see postgres.WithAppCA).
	DBAppCA string
	// RedisAdminURL (REDIS_ADMIN_URL): a Redis user allowed to manage ACLs.
	RedisAdminURL string
	// ElastiCache, when ElastiCacheUserGroup is set (ELASTICACHE_USER_GROUP,
	// ELASTICACHE_ENDPOINT, ELASTICACHE_ENGINE), is the Redis service's backend
	// instead of RedisAdminURL: users through the ElastiCache API, with the AWS
	// credentials of the operator's identity (Pod Identity).
	ElastiCacheUserGroup, ElastiCacheEndpoint, ElastiCacheEngine string
	// ElastiCacheOptions adjust the ElastiCache client (tests point it at a
	// fake), and ElastiCachePoll how often a change is looked at (default 5 s).
	ElastiCacheOptions []func(*elasticache.Options)
	ElastiCachePoll    time.Duration
	// Resync is how often Applications with backing services are observed again
	// (reads only) to find and undo drift in a backend. Zero: never.
	Resync time.Duration
	// ReconcileTimeout bounds one reconcile (0: controller.DefaultReconcileTimeout).
	ReconcileTimeout time.Duration
	// RotationDeadline: after it a credential rotation still waiting for old
	// pods or sessions is reported stuck (0: controller.DefaultRotationDeadline).
	RotationDeadline time.Duration
	// OpenSearch (OPENSEARCH_URL, OPENSEARCH_USERNAME, OPENSEARCH_PASSWORD): an
	// admin of the security plugin's REST API.
	OpenSearchURL, OpenSearchUser, OpenSearchPassword string
	// Keycloak (KEYCLOAK_URL, KEYCLOAK_ADMIN_USER, KEYCLOAK_ADMIN_PASSWORD): an
	// admin of the master realm.
	KeycloakURL, KeycloakUser, KeycloakPassword string
	// KeycloakAdminSecret ("namespace/name", key "password") holds the Keycloak
	// bootstrap admin's password. The operator creates it once, with a random
	// password, when it is missing: Keycloak reads it through secretEnv and the
	// operator through the API (when KeycloakPassword is empty), so no one makes
	// it by hand. Empty: neither.
	KeycloakAdminSecret string
	// MaxConcurrentReconciles is how many Applications are reconciled at once.
	MaxConcurrentReconciles int
	// GitHubToken (GITHUB_TOKEN), with deployments:write on the apps'
	// repositories, lets the operator record each release as a GitHub
	// Deployment there; GitHubAPIURL (GITHUB_API_URL) is GitHub Enterprise's
	// API. Empty token: releases are not recorded (the condition says so).
	GitHubToken, GitHubAPIURL string
	// GitHubAppID and GitHubAppPrivateKey (GITHUB_APP_ID,
	// GITHUB_APP_PRIVATE_KEY: the PEM) authenticate as a GitHub App instead,
	// with the token of its installation on each app's repository.
	GitHubAppID         string
	GitHubAppPrivateKey []byte
}

// GitHubDeployments is what records releases on GitHub: as a GitHub App when
// one is configured, else with a token; nil with neither.
func GitHubDeployments(cfg Config) (controller.GitHubDeployments, error) {
	switch {
	case cfg.GitHubAppID != "":
		id, err := strconv.ParseInt(cfg.GitHubAppID, 10, 64)
		if err != nil || id <= 0 {
			return nil, fmt.Errorf("GITHUB_APP_ID %q is not a GitHub App's ID (a number)", cfg.GitHubAppID)
		}
		key, err := ghdeploy.ParsePrivateKey(cfg.GitHubAppPrivateKey)
		if err != nil {
			return nil, fmt.Errorf("GITHUB_APP_PRIVATE_KEY: %w", err)
		}
		return ghdeploy.NewApp(id, key, cfg.GitHubAPIURL)
	case cfg.GitHubToken != "":
		return ghdeploy.New(cfg.GitHubToken, cfg.GitHubAPIURL)
	}
	return nil, nil
}

// Scheme is the operator's scheme: built-in types and Plattr's.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := plattrv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// CacheOptions keep the operator's memory bounded: only objects Plattr manages are
// cached (not every Secret and Deployment of the cluster), without managed fields.
func CacheOptions() cache.Options {
	managed := labels.SelectorFromSet(labels.Set{controller.LabelManagedBy: controller.ManagedBy})
	byObject := map[client.Object]cache.ByObject{}
	for _, o := range []client.Object{&appsv1.Deployment{}, &batchv1.Job{}, &corev1.Service{}, &corev1.ServiceAccount{}, &corev1.Secret{},
		&networkingv1.Ingress{}, &policyv1.PodDisruptionBudget{}} {
		byObject[o] = cache.ByObject{Label: managed}
	}
	return cache.Options{ByObject: byObject, DefaultTransform: cache.TransformStripManagedFields()}
}

// Provisioners builds the backing services from the configuration. A service whose
// settings are missing still exists: it reports NotConfigured on the Applications
// that ask for it, instead of crashing the operator.
func Provisioners(cfg Config, reader client.Reader) ([]services.Provisioner, func(), error) {
	var opts []postgres.Option
	if cfg.DBAppHost != "" {
		opts = append(opts, postgres.WithAppHost(cfg.DBAppHost, cfg.DBAppPort))
	}
	if cfg.DBAppCA != "" {
		opts = append(opts, postgres.WithAppCA(cfg.DBAppCA))
	}
	pg, err := postgres.New(cfg.DBAdminURL, opts...)
	if err != nil {
		return nil, nil, err
	}
	rd, err := redisProvisioner(cfg)
	if err != nil {
		return nil, nil, err
	}
	search, err := opensearch.New(cfg.OpenSearchURL, cfg.OpenSearchUser, cfg.OpenSearchPassword)
	if err != nil {
		return nil, nil, err
	}
	auth := keycloak.New(cfg.KeycloakURL, cfg.KeycloakUser, cfg.KeycloakPassword)
	if cfg.KeycloakPassword == "" && cfg.KeycloakAdminSecret != "" && reader != nil {
		auth = keycloak.NewWithPassword(cfg.KeycloakURL, cfg.KeycloakUser, secretPassword(reader, cfg.KeycloakAdminSecret))
	}
	return []services.Provisioner{pg, rd, search, auth}, func() { pg.Close(); rd.Close() }, nil
}

// redisProvisioner is the Redis service's backend: ElastiCache's API when a
// user group is configured, else ACLs through RedisAdminURL.
func redisProvisioner(cfg Config) (interface {
	services.Provisioner
	Close()
}, error) {
	if cfg.ElastiCacheUserGroup == "" {
		return redis.New(cfg.RedisAdminURL)
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		return nil, fmt.Errorf("ElastiCache: AWS configuration: %w", err)
	}
	return redis.NewElastiCache(elasticache.NewFromConfig(awsCfg, cfg.ElastiCacheOptions...), redis.ElastiCacheConfig{
		UserGroup: cfg.ElastiCacheUserGroup, Endpoint: cfg.ElastiCacheEndpoint, Engine: cfg.ElastiCacheEngine, Poll: cfg.ElastiCachePoll})
}

// Setup registers the Application controller with mgr.
func Setup(mgr ctrl.Manager, cfg Config) (func(), error) {
	provs, closeAll, err := Provisioners(cfg, mgr.GetAPIReader())
	if err != nil {
		return nil, err
	}
	if err := AddKeycloakAdminSecret(mgr, cfg); err != nil {
		closeAll()
		return nil, err
	}
	gh, err := GitHubDeployments(cfg)
	if err != nil {
		closeAll()
		return nil, err
	}
	r := &controller.ApplicationReconciler{
		GitHub:    gh,
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorderFor("plattr-operator"),
		Services:  provs,
		Config: controller.Config{
			BaseDomain:       cfg.BaseDomain,
			ProductionEnv:    cfg.ProductionEnv,
			Resync:           cfg.Resync,
			ReconcileTimeout: cfg.ReconcileTimeout,
			RotationDeadline: cfg.RotationDeadline,
			Workload:         controller.Workload{IngressClass: cfg.IngressClass, ClusterIssuer: cfg.ClusterIssuer, SecretStore: cfg.SecretStore},
		},
	}
	if err := r.SetupWithManager(mgr, cfg.MaxConcurrentReconciles); err != nil {
		closeAll()
		return nil, fmt.Errorf("set up the Application controller: %w", err)
	}
	return closeAll, nil
}

// AddKeycloakAdminSecret makes the elected operator create the Keycloak admin
// Secret (cfg.KeycloakAdminSecret) when it starts, if it is missing.
func AddKeycloakAdminSecret(mgr ctrl.Manager, cfg Config) error {
	if cfg.KeycloakAdminSecret == "" {
		return nil
	}
	return mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		if err := EnsureKeycloakAdminSecret(ctx, mgr.GetClient(), cfg.KeycloakAdminSecret); err != nil {
			mgr.GetLogger().Error(err, "cannot make the Keycloak admin Secret", "secret", cfg.KeycloakAdminSecret)
		}
		<-ctx.Done()
		return nil
	}))
}

// EnsureKeycloakAdminSecret creates the Secret "namespace/name" with a random
// "password" when it does not exist; an existing one is never changed.
func EnsureKeycloakAdminSecret(ctx context.Context, c client.Client, ref string) error {
	ns, name, ok := strings.Cut(ref, "/")
	if !ok || ns == "" || name == "" {
		return fmt.Errorf("keycloak admin Secret %q must be namespace/name", ref)
	}
	pw, err := services.Password()
	if err != nil {
		return err
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{controller.LabelManagedBy: controller.ManagedBy}},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"password": []byte(pw)},
	}
	if err := c.Create(ctx, s); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create Secret %s: %w", ref, err)
	}
	return nil
}

// secretPassword reads the "password" key of the Secret "namespace/name".
func secretPassword(reader client.Reader, ref string) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		ns, name, _ := strings.Cut(ref, "/")
		var s corev1.Secret
		if err := reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &s); err != nil {
			return "", fmt.Errorf("read Secret %s: %w", ref, err)
		}
		if len(s.Data["password"]) == 0 {
			return "", fmt.Errorf("Secret %s has no password yet", ref)
		}
		return string(s.Data["password"]), nil
	}
}

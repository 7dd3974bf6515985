// Command plattr-operator runs the Plattr operator: flags and environment →
// manager → operator.Setup → start. "plattr-operator rollbacks" runs the
// rollback controller instead (uirollback), a process of its own: the
// operator never writes git. No logic lives here.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/plattr/plattr/internal/version"
	"github.com/plattr/plattr/operator"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/controller"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "rollbacks" {
		rollbacks(os.Args[2:])
		return
	}
	var (
		probeAddr   string
		leaderElect bool
		qps         float64
		burst       int
		cfg         operator.Config
	)
	metrics := metricsFlags(flag.CommandLine)
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	flag.BoolVar(&leaderElect, "leader-elect", true, "elect a leader, so that only one replica reconciles")
	flag.StringVar(&cfg.BaseDomain, "base-domain", os.Getenv("PLATTR_BASE_DOMAIN"), "base domain of default hosts (PLATTR_BASE_DOMAIN)")
	flag.StringVar(&cfg.ProductionEnv, "production-env", envOr("PLATTR_PRODUCTION_ENV", plattrv1.DefaultProductionEnv), "name of the production environment")
	flag.StringVar(&cfg.IngressClass, "ingress-class", os.Getenv("PLATTR_INGRESS_CLASS"), "ingressClassName of Ingresses (empty: the cluster default)")
	flag.StringVar(&cfg.SecretStore, "secret-store", os.Getenv("PLATTR_SECRET_STORE"), "ClusterSecretStore of the apps' own secrets (externalSecrets; default \"plattr\")")
	flag.StringVar(&cfg.ClusterIssuer, "cluster-issuer", os.Getenv("PLATTR_CLUSTER_ISSUER"), "cert-manager ClusterIssuer for TLS (empty: no TLS)")
	flag.StringVar(&cfg.DBAppHost, "db-app-host", os.Getenv("DB_APP_HOST"), "host apps use to reach PostgreSQL (default: DB_ADMIN_URL's)")
	flag.StringVar(&cfg.DBAppPort, "db-app-port", os.Getenv("DB_APP_PORT"), "port apps use to reach PostgreSQL (default: DB_ADMIN_URL's)")
	flag.StringVar(&cfg.DBAppCA, "db-app-ca", os.Getenv("DB_APP_CA"), "sslrootcert of the apps' DATABASE_URL: a CA bundle's path in the app's pod, or \"system\" (default: none; DB_ADMIN_URL's sslmode is carried)")
	flag.StringVar(&cfg.KeycloakAdminSecret, "keycloak-admin-secret", os.Getenv("PLATTR_KEYCLOAK_ADMIN_SECRET"),
		"namespace/name of the Keycloak bootstrap admin Secret, created with a random password when missing (empty: none)")
	flag.DurationVar(&cfg.Resync, "resync", 5*time.Minute, "how often Applications with backing services are observed again, to find and undo drift in a backend (reads only; 0: never)")
	flag.DurationVar(&cfg.RotationDeadline, "rotation-deadline", controller.DefaultRotationDeadline, "how long a credential rotation may wait for pods or sessions still using the previous credentials before the CredentialsRotated condition says it is stuck (both stay valid)")
	flag.DurationVar(&cfg.ReconcileTimeout, "reconcile-timeout", controller.DefaultReconcileTimeout, "longest one reconcile may take before its backend calls are cancelled and it is retried")
	flag.IntVar(&cfg.MaxConcurrentReconciles, "max-concurrent-reconciles", 8, "Applications reconciled at once")
	flag.Float64Var(&qps, "kube-api-qps", 50, "requests per second to the API server")
	flag.IntVar(&burst, "kube-api-burst", 100, "burst of requests to the API server")
	showVersion := flag.Bool("version", false, "print the version and exit")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	if *showVersion {
		fmt.Println(version.String("plattr-operator"))
		return
	}
	// Credentials are never flags: flags show in process listings.
	cfg.DBAdminURL = os.Getenv("DB_ADMIN_URL")
	cfg.RedisAdminURL = os.Getenv("REDIS_ADMIN_URL")
	cfg.ElastiCacheUserGroup, cfg.ElastiCacheEndpoint = os.Getenv("ELASTICACHE_USER_GROUP"), os.Getenv("ELASTICACHE_ENDPOINT")
	cfg.ElastiCacheEngine = os.Getenv("ELASTICACHE_ENGINE")
	cfg.OpenSearchURL = os.Getenv("OPENSEARCH_URL")
	cfg.OpenSearchUser = os.Getenv("OPENSEARCH_USERNAME")
	cfg.OpenSearchPassword = os.Getenv("OPENSEARCH_PASSWORD")
	cfg.GitHubToken, cfg.GitHubAPIURL = os.Getenv("GITHUB_TOKEN"), os.Getenv("GITHUB_API_URL")
	cfg.GitHubAppID, cfg.GitHubAppPrivateKey = os.Getenv("GITHUB_APP_ID"), []byte(os.Getenv("GITHUB_APP_PRIVATE_KEY"))
	cfg.KeycloakURL = os.Getenv("KEYCLOAK_URL")
	cfg.KeycloakUser = envOr("KEYCLOAK_ADMIN_USER", "admin")
	cfg.KeycloakPassword = os.Getenv("KEYCLOAK_ADMIN_PASSWORD")
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("setup")

	restCfg := ctrl.GetConfigOrDie()
	restCfg.QPS, restCfg.Burst = float32(qps), burst
	restCfg.UserAgent = version.UserAgent("plattr-operator")
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme:                 operator.Scheme(),
		Cache:                  operator.CacheOptions(),
		Metrics:                metrics(),
		HealthProbeBindAddress: probeAddr,
		LeaderElection:         leaderElect,
		LeaderElectionID:       "plattr-operator.plattr.dev",
	})
	if err != nil {
		fail(log, "create the manager", err)
	}
	closeAll, err := operator.Setup(mgr, cfg)
	if err != nil {
		fail(log, "set up the operator", err)
	}
	defer closeAll()
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		fail(log, "add the health check", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		fail(log, "add the readiness check", err)
	}
	log.Info("starting", "version", version.Version(), "baseDomain", cfg.BaseDomain, "postgres", cfg.DBAdminURL != "", "redis", cfg.RedisAdminURL != "", "elasticache", cfg.ElastiCacheUserGroup, "opensearch", cfg.OpenSearchURL != "", "keycloak", cfg.KeycloakURL != "")
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		fail(log, "run the manager", err)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func fail(log interface{ Error(error, string, ...any) }, what string, err error) {
	log.Error(err, what)
	fmt.Fprintf(os.Stderr, "plattr-operator: %s: %v\n", what, err)
	os.Exit(1)
}

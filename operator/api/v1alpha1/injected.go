package v1alpha1

// InjectedEnv names every variable the operator sets in an application's
// container from a backing service's Secret (every key of every service's
// Secret), and the ApplicationSpec field of that service (database, redis,
// search, auth). An env entry of the same name would override it: the generator
// refuses one. PORT is not listed: the operator sets it only when env does not.
var InjectedEnv = map[string]string{
	"DATABASE_URL": "database", "PGHOST": "database", "PGPORT": "database", "PGDATABASE": "database",
	"PGUSER": "database", "PGPASSWORD": "database",
	"REDIS_URL": "redis", "REDIS_KEY_PREFIX": "redis", "REDIS_USERNAME": "redis", "REDIS_PASSWORD": "redis",
	"OPENSEARCH_URL": "search", "OPENSEARCH_USERNAME": "search", "OPENSEARCH_PASSWORD": "search",
	"OPENSEARCH_INDEX_PREFIX": "search",
	"OIDC_ISSUER_URL":         "auth", "OIDC_CLIENT_ID": "auth", "OIDC_CLIENT_SECRET": "auth",
}

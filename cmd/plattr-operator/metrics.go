package main

import (
	"flag"

	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/plattr/plattr/operator"
)

// metricsFlags adds the metrics endpoint's flags to fs (the operator's and the
// rollback controller's alike); the function it returns gives the server's
// options once fs is parsed.
func metricsFlags(fs *flag.FlagSet) func() metricsserver.Options {
	addr := fs.String("metrics-bind-address", operator.DefaultMetricsAddr, "address of the Prometheus metrics endpoint (0 disables it)")
	secure := fs.Bool("metrics-secure", true, "serve metrics over HTTPS to callers with a ServiceAccount token allowed to get /metrics (the "+operator.MetricsReaderRole+" ClusterRole); false: plain HTTP to anyone, for a loopback address only")
	certDir := fs.String("metrics-cert-dir", "", "folder of tls.crt and tls.key for the metrics endpoint, reloaded when they change (empty: a self-signed certificate made at start)")
	return func() metricsserver.Options { return operator.MetricsOptions(*addr, *secure, *certDir) }
}

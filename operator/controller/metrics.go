package controller

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

// The names of Plattr's own metrics.
const (
	metricApplications     = "plattr_applications"
	metricProvisionSeconds = "plattr_service_provision_duration_seconds"
	metricServiceErrors    = "plattr_service_errors_total"
	metricReconciles       = "plattr_application_reconciles_total"
	metricRotations        = "plattr_credential_rotations_total"
	metricDeletions        = "plattr_application_deletions_total"
)

// Plattr's own metrics, served beside controller-runtime's on the operator's
// metrics endpoint. docs/operating.md lists them with example queries, and
// the dashboard in bases/prometheus/dashboard.json uses only these and
// controller-runtime's.
var (
	provisionSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    metricProvisionSeconds,
		Help:    "Time a backing service took to provision or repair an Application's part (one Ensure), by service and result (ok, error).",
		Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 10),
	}, []string{"service", "result"})
	serviceErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricServiceErrors,
		Help: "Backing service failures, by service and the reason its condition gives (ProvisioningFailed: retried; NotConfigured, Invalid: a person must act).",
	}, []string{"service", "reason"})
	reconcileOutcomes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricReconciles,
		Help: "Application reconciles by outcome: ready, progressing (not Ready yet, no error), stalled (a person must act), error (retried).",
	}, []string{"outcome"})
	rotations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricRotations,
		Help: "Credential rotations by service and event: started, completed, stuck (waited past the rotation deadline).",
	}, []string{"service", "event"})
	deletions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricDeletions,
		Help: "Applications whose deletion the operator finished, by deletion policy (Delete: data removed; Retain: kept).",
	}, []string{"deletion_policy"})
)

// Reconcile outcomes.
const (
	outcomeReady       = "ready"
	outcomeProgressing = "progressing"
	outcomeStalled     = "stalled"
	outcomeError       = "error"
)

func init() {
	metrics.Registry.MustRegister(provisionSeconds, serviceErrors, reconcileOutcomes, rotations, deletions)
}

// MetricNames are the names of Plattr's own metrics, as registered (a
// histogram's series add _bucket, _sum and _count), whether or not anything
// was counted yet: the dashboard's test checks its queries against them.
func MetricNames() []string {
	return []string{metricApplications, metricProvisionSeconds, metricServiceErrors, metricReconciles, metricRotations, metricDeletions}
}

// observeEnsure records one Ensure of service that took since start.
func observeEnsure(service string, start time.Time, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	provisionSeconds.WithLabelValues(service, result).Observe(time.Since(start).Seconds())
}

// countOutcome records how a reconcile ended.
func countOutcome(st *status, err error) {
	switch {
	case err != nil && retryable(err) != nil:
		reconcileOutcomes.WithLabelValues(outcomeError).Inc()
	case st.stalled:
		reconcileOutcomes.WithLabelValues(outcomeStalled).Inc()
	case st.ready:
		reconcileOutcomes.WithLabelValues(outcomeReady).Inc()
	default:
		reconcileOutcomes.WithLabelValues(outcomeProgressing).Inc()
	}
}

// applicationsCollector reports, at each scrape, the Applications in the
// operator's cache by environment (their namespace's plattr.dev/environment
// label, else its name) and Ready status: plattr_applications.
type applicationsCollector struct {
	reader client.Reader
	desc   *prometheus.Desc
}

func newApplicationsCollector(reader client.Reader) *applicationsCollector {
	return &applicationsCollector{reader: reader, desc: prometheus.NewDesc(metricApplications,
		"Applications by environment and Ready condition status (True, False, Unknown).", []string{"environment", "ready"}, nil)}
}

// Describe implements prometheus.Collector.
func (c *applicationsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector: two cache reads, no API call.
func (c *applicationsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var apps plattrv1.ApplicationList
	var nss corev1.NamespaceList
	if c.reader.List(ctx, &apps) != nil || c.reader.List(ctx, &nss) != nil {
		return // the cache is not ready: no figure rather than a wrong one
	}
	envOf := map[string]string{}
	for _, ns := range nss.Items {
		envOf[ns.Name] = ns.Name
		if e := ns.Labels[plattrv1.LabelEnvironment]; e != "" {
			envOf[ns.Name] = e
		}
	}
	type key struct{ env, ready string }
	counts := map[key]int{}
	for _, a := range apps.Items {
		ready := "Unknown"
		if cond := meta.FindStatusCondition(a.Status.Conditions, plattrv1.ConditionReady); cond != nil {
			ready = string(cond.Status)
		}
		env := envOf[a.Namespace]
		if env == "" {
			env = a.Namespace
		}
		counts[key{env, ready}]++
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), k.env, k.ready)
	}
}

var (
	collectorMu sync.Mutex
	collector   *applicationsCollector
)

// registerApplicationsCollector serves plattr_applications from reader (the
// manager's cache); a later manager in the same process (tests) takes over.
func registerApplicationsCollector(reader client.Reader) {
	collectorMu.Lock()
	defer collectorMu.Unlock()
	if collector != nil {
		metrics.Registry.Unregister(collector)
	}
	collector = newApplicationsCollector(reader)
	metrics.Registry.MustRegister(collector)
}

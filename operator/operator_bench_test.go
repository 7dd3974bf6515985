package operator_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plattr/plattr/internal/testenv"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// The benchmark Applications' image digest and base domain.
var sha = strings.Repeat("ab", 32)

const benchDomain = "bench.example.com"

// BenchmarkOperator1000 runs the real plattr-operator binary against the test API
// server (with controller-manager, scheduler and kwok) and a private PostgreSQL,
// creates PLATTR_BENCH_APPS (default 1,000) Applications with databases
// (PLATTR_BENCH_DB=0: without), and reports the time until all are Ready, the
// operator's memory, and the API writes and SQL statements during a steady
// window (PLATTR_BENCH_STEADY, default 2m), in which every Application is
// observed again on the resync period (PLATTR_BENCH_RESYNC, default 1m: reads
// only). Before the operator starts, the same work is done without it (the
// floor: runFloor), and the operator's figures are printed as ratios of the
// floor's. Run by `make bench-operator`; it asserts nothing.
func BenchmarkOperator1000(b *testing.B) {
	n := envInt("PLATTR_BENCH_APPS", 1000)
	withDB := os.Getenv("PLATTR_BENCH_DB") != "0"
	steady, _ := time.ParseDuration(envOr("PLATTR_BENCH_STEADY", "2m"))
	resync := envOr("PLATTR_BENCH_RESYNC", "1m")
	c := testenv.StartCluster(b)
	c.StartWorkloads(b)
	ctx := context.Background()

	bin := filepath.Join(b.TempDir(), "plattr-operator")
	root, _ := testenv.RepoRoot()
	if out, err := exec.Command("go", "build", "-o", bin, filepath.Join(root, "cmd", "plattr-operator")).CombinedOutput(); err != nil {
		b.Fatalf("build the operator: %v\n%s", err, out)
	}
	env := append(os.Environ(), "KUBECONFIG="+c.Kubeconfig, "PLATTR_BASE_DOMAIN="+benchDomain)
	pgLog, adminURL := "", ""
	if withDB {
		pp := testenv.StartPrivatePostgres(b)
		pp.Exec(b, `CREATE ROLE plattr_test_bench_admin LOGIN CREATEDB CREATEROLE PASSWORD 'bench-admin-pw'`)
		// Every statement the operator sends goes to the server's log, to be counted.
		pp.Exec(b, `ALTER ROLE plattr_test_bench_admin SET log_statement = 'all'`)
		admin, _ := url.Parse(pp.AdminURL)
		admin.User = url.UserPassword("plattr_test_bench_admin", "bench-admin-pw")
		pgLog, adminURL = pp.LogFile(), admin.String()
		env = append(env, "DB_ADMIN_URL="+adminURL)
	}

	floor := runFloor(b, c, pgLog, adminURL, n)

	metricsPort := testenv.FreePort(b)
	logFile := filepath.Join(b.TempDir(), "operator.log")
	log, _ := os.Create(logFile)
	op := exec.Command(bin, "--leader-elect=false", "--health-probe-bind-address=0",
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metricsPort), "--metrics-secure=false", "--max-concurrent-reconciles=16",
		"--kube-api-qps=200", "--kube-api-burst=400", "--resync="+resync)
	op.Env = env
	op.Stdout, op.Stderr = log, log
	op.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := op.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = op.Process.Signal(syscall.SIGTERM); _ = op.Wait() }()

	ns := c.Namespace(b, benchEnv)
	// The benchmark's own client must not be the bottleneck.
	fast := rest.CopyConfig(c.Config)
	fast.QPS, fast.Burst = 1000, 2000
	cl, err := client.New(fast, client.Options{Scheme: c.Scheme})
	if err != nil {
		b.Fatal(err)
	}
	// SQL statements in the server's log so far (none without a database).
	sqlSoFar := func() (all, writes int) {
		if !withDB {
			return 0, 0
		}
		return statements(b, pgLog)
	}
	x00, d00 := sqlSoFar()
	b.ResetTimer()
	start := time.Now()
	cpu0 := testenv.ProcessCPU()
	forEach(b, n, 8, func(i int) error { return cl.Create(ctx, benchApp(ns, fmt.Sprintf("test-b%04d", i), withDB)) })
	created := time.Since(start)
	var ready int
	for {
		var list plattrv1.ApplicationList
		if err := c.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
			b.Fatal(err)
		}
		ready = 0
		for _, a := range list.Items {
			if meta.IsStatusConditionTrue(a.Status.Conditions, plattrv1.ConditionReady) {
				ready++
			}
		}
		if ready == n {
			break
		}
		if time.Since(start) > 30*time.Minute {
			b.Fatalf("only %d/%d Ready after 30 minutes; operator log: %s", ready, n, logFile)
		}
		time.Sleep(2 * time.Second) // listing 1,000 objects costs the API server too
	}
	allReady := time.Since(start)
	b.StopTimer()
	readsToReady, writesToReady, reconcilesToReady := apiReads(b, metricsPort), apiWrites(b, metricsPort), reconciles(b, metricsPort)
	cpu := cpu0.Delta(testenv.ProcessCPU())
	rss, hwm := memory(op.Process.Pid)

	// Steady state: nothing changes; count the operator's API writes and the
	// transactions on the admin's database.
	time.Sleep(3 * time.Second)
	rv0 := resourceVersions(b, c, ns)
	w0, r0, g0 := apiWrites(b, metricsPort), reconciles(b, metricsPort), apiReads(b, metricsPort)
	x0, writes0 := sqlSoFar()
	time.Sleep(steady)
	x1, writes1 := sqlSoFar()
	w1, r1, g1 := apiWrites(b, metricsPort), reconciles(b, metricsPort), apiReads(b, metricsPort)
	rv1 := resourceVersions(b, c, ns)
	changed := 0
	for k, v := range rv1 {
		if rv0[k] != v {
			changed++
			if changed < 5 {
				fmt.Println("changed during the window:", k)
			}
		}
	}
	rss2, hwm2 := memory(op.Process.Pid)

	what := "with databases"
	if !withDB {
		what = "without databases"
	}
	ratio := testenv.Ratio // the operator's own process has no floor: "—"
	b.ReportMetric(allReady.Seconds(), "s-to-all-Ready")
	b.ReportMetric(allReady.Seconds()/floor.wall.Seconds(), "x-floor")
	b.ReportMetric(float64(hwm)/1024, "MiB-peak-RSS")
	fmt.Printf("\n| operator: %d Applications %s | floor (same work, no operator) | operator | operator ÷ floor | goal |\n|---|---|---|---|---|\n", n, what)
	fmt.Printf("| all Ready (floor: all Deployments Available) after | %s | **%s** | **%s** | ≤ 1.2× |\n",
		floor.wall.Round(time.Millisecond), allReady.Round(time.Millisecond), ratio(allReady.Seconds(), floor.wall.Seconds()))
	fmt.Printf("| CPU seconds, all processes (2 cores) | %.0f | %.0f | %s | — |\n", floor.cpu.Total(), cpu.Total(), ratio(cpu.Total(), floor.cpu.Total()))
	for _, p := range []string{"kube-apiserver", "etcd", "postgres", "kube-controller-manager", "kube-scheduler", "kwok", "plattr-operator", "test binary"} {
		if floor.cpu[p] == 0 && cpu[p] == 0 {
			continue
		}
		fmt.Printf("| — %s | %.1f | %.1f | %s | — |\n", p, floor.cpu[p], cpu[p], ratio(cpu[p], floor.cpu[p]))
	}
	fmt.Printf("| the operator's share of the machine's CPU during its run | — | **%.0f %%** | — | < 15 %% |\n", 100*cpu["plattr-operator"]/(2*allReady.Seconds()))
	if withDB {
		fmt.Printf("| SQL statements to get there (all / DDL and grants) | %d / %d | %d / %d | — | — |\n", floor.sql, floor.ddl, x0-x00, writes0-d00)
	}
	fmt.Printf("| backend errors, retried (floor: failed Ensures; operator: plattr_service_errors_total) | %d | %d | — | 0 |\n",
		floor.retries, metricSum(b, metricsPort, "plattr_service_errors_total{", func(string) bool { return true }))
	fmt.Printf("| the operator's API requests to get there: GET / writes; reconciles | — | %d / %d; %d | — | — |\n", readsToReady, writesToReady, reconcilesToReady)
	fmt.Printf("| created by the client in | — | %s | — | — |\n", created.Round(time.Millisecond))
	fmt.Printf("| operator memory when all Ready (RSS / peak) | — | **%d MiB / %d MiB** | — | < 200 MiB (10,000: < 300) |\n", rss/1024, hwm/1024)
	fmt.Printf("| reconciles during %s of steady state (--resync=%s) | — | %d | — | — |\n", steady, resync, r1-r0)
	fmt.Printf("| API writes during it | — | **%d** | — | 0 |\n", w1-w0)
	fmt.Printf("| API reads past the cache (GET) during it: all / per reconcile | — | %d / %.2f | — | — |\n", g1-g0, float64(g1-g0)/float64(max(r1-r0, 1)))
	if withDB {
		fmt.Printf("| SQL statements during it: reads and pings / **writes** (DDL, grants) | — | %d / **%d** | — | — / 0 |\n", x1-x0-(writes1-writes0), writes1-writes0)
	}
	fmt.Printf("| operator memory after the steady window (RSS / peak) | — | %d MiB / %d MiB | — | — |\n\n", rss2/1024, hwm2/1024)

	// Clean up: the operator drops every database as the Applications go.
	if err := c.Client.DeleteAllOf(ctx, &plattrv1.Application{}, client.InNamespace(ns)); err != nil {
		b.Fatal(err)
	}
	testenv.Eventually(b, 15*time.Minute, "every Application finalised", func() (bool, error) {
		var list plattrv1.ApplicationList
		err := c.Client.List(ctx, &list, client.InNamespace(ns))
		return err == nil && len(list.Items) == 0, err
	})
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil && v > 0 {
		return v
	}
	return def
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// memory reads a process's resident and peak resident memory in KiB.
func memory(pid int) (rss, hwm int) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "VmRSS:" {
			rss, _ = strconv.Atoi(fields[1])
		}
		if len(fields) >= 2 && fields[0] == "VmHWM:" {
			hwm, _ = strconv.Atoi(fields[1])
		}
	}
	return rss, hwm
}

// apiWrites sums the operator's client-go requests that are not reads, from its
// Prometheus metrics.
func apiWrites(b *testing.B, port int) int {
	return metricSum(b, port, "rest_client_requests_total{", func(l string) bool { return !strings.Contains(l, `method="GET"`) })
}

// apiReads counts the operator's client-go GETs: reads past its cache (and
// the cache's own lists, if it lists again).
func apiReads(b *testing.B, port int) int {
	return metricSum(b, port, "rest_client_requests_total{", func(l string) bool { return strings.Contains(l, `method="GET"`) })
}

// reconciles counts the Application controller's reconciles.
func reconciles(b *testing.B, port int) int {
	return metricSum(b, port, `controller_runtime_reconcile_total{controller="application"`, func(string) bool { return true })
}

// metricSum adds the values of the metric lines with prefix that keep takes.
func metricSum(b *testing.B, port int, prefix string, keep func(line string) bool) int {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	total := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) || !keep(line) {
			continue
		}
		fields := strings.Fields(line)
		v, _ := strconv.ParseFloat(fields[len(fields)-1], 64)
		total += int(v)
	}
	return total
}

// statements counts what the operator's role sent, in the server's log (simple
// protocol statements and extended-protocol executions alike): all of it, and
// the writes among it (DDL and grants: CREATE, ALTER, DROP, GRANT, REVOKE). The
// rest are reads (SELECT) and the pool's pings ("-- ping").
func statements(b *testing.B, logFile string) (all, writes int) {
	data, err := os.ReadFile(logFile)
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		_, sql, ok := strings.Cut(line, "LOG:  statement: ")
		if !ok {
			if _, rest, ok2 := strings.Cut(line, "LOG:  execute "); ok2 {
				_, sql, ok = strings.Cut(rest, ": ")
			}
		}
		if !ok {
			continue
		}
		all++
		switch strings.ToUpper(strings.SplitN(strings.TrimSpace(sql), " ", 2)[0]) {
		case "CREATE", "ALTER", "DROP", "GRANT", "REVOKE":
			writes++
		}
	}
	return all, writes
}

func resourceVersions(b *testing.B, c *testenv.Cluster, ns string) map[string]string {
	out := map[string]string{}
	lists := map[string]client.ObjectList{"Deployment": &appsv1.DeploymentList{}, "Service": &corev1.ServiceList{},
		"Secret": &corev1.SecretList{}, "ServiceAccount": &corev1.ServiceAccountList{}, "Application": &plattrv1.ApplicationList{}}
	for kind, l := range lists {
		if err := c.Client.List(context.Background(), l, client.InNamespace(ns)); err != nil {
			b.Fatal(err)
		}
		items, _ := meta.ExtractList(l)
		for _, it := range items {
			o := it.(client.Object)
			out[kind+"/"+o.GetName()] = o.GetResourceVersion()
		}
	}
	return out
}

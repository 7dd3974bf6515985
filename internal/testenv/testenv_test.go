package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

const image = "ghcr.io/acme/hello@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestCluster_ApplicationCRD(t *testing.T) {
	c := StartCluster(t)
	ctx := context.Background()
	ns := c.Namespace(t, "staging")
	app := &plattrv1.Application{ObjectMeta: metav1.ObjectMeta{Name: "hello", Namespace: ns},
		Spec: plattrv1.ApplicationSpec{Image: image, Database: &plattrv1.DatabaseSpec{Enabled: true}}}
	require.NoError(t, c.Client.Create(ctx, app))

	var got plattrv1.Application
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "hello"}, &got))
	assert.Equal(t, image, got.Spec.Image)
	assert.Equal(t, int32(8080), got.Spec.Port, "the CRD's default")
	assert.Equal(t, int32(1), *got.Spec.Replicas, "the CRD's default")
	assert.Equal(t, plattrv1.DeletionPolicyRetain, got.Spec.DeletionPolicy, "the CRD's default")

	bad := &plattrv1.Application{ObjectMeta: metav1.ObjectMeta{Name: "bad", Namespace: ns},
		Spec: plattrv1.ApplicationSpec{Image: image, Port: -1}}
	err := c.Client.Create(ctx, bad)
	require.Error(t, err)
	assert.True(t, apierrors.IsInvalid(err), "the API server's validation refuses it: %v", err)
	assert.Contains(t, err.Error(), "spec.port")

	bad = &plattrv1.Application{ObjectMeta: metav1.ObjectMeta{Name: "bad", Namespace: ns},
		Spec: plattrv1.ApplicationSpec{Image: image, DeletionPolicy: "Sometimes"}}
	err = c.Client.Create(ctx, bad)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `supported values: "Retain", "Delete"`)
}

// kubectl get papp shows the print columns of the CRD.
func TestCluster_KubectlPrintColumns(t *testing.T) {
	c := StartCluster(t)
	ns := c.Namespace(t, "staging")
	app := &plattrv1.Application{ObjectMeta: metav1.ObjectMeta{Name: "hello", Namespace: ns}, Spec: plattrv1.ApplicationSpec{Image: image}}
	require.NoError(t, c.Client.Create(context.Background(), app))
	meta.SetStatusCondition(&app.Status.Conditions, metav1.Condition{Type: plattrv1.ConditionReady, Status: metav1.ConditionFalse,
		Reason: "DatabaseNotReady", Message: "the database is being created"})
	require.NoError(t, c.Client.Status().Update(context.Background(), app))
	get := func(args ...string) (header []string, out string) {
		b, err := exec.Command(c.Assets+"/kubectl", append([]string{"--kubeconfig", c.Kubeconfig, "get", "papp", "-n", ns}, args...)...).CombinedOutput()
		require.NoError(t, err, string(b))
		return strings.Fields(strings.SplitN(string(b), "\n", 2)[0]), string(b)
	}
	header, out := get()
	assert.Equal(t, []string{"NAME", "READY", "REASON", "URL", "AGE", "MESSAGE"}, header)
	assert.Contains(t, out, "DatabaseNotReady")
	assert.Contains(t, out, "the database is being created")
	assert.NotContains(t, out, image)
	header, out = get("-o", "wide")
	assert.Equal(t, []string{"NAME", "READY", "REASON", "URL", "AGE", "MESSAGE", "IMAGE"}, header)
	assert.Contains(t, out, image)
}

func TestCluster_DeploymentBecomesAvailable(t *testing.T) {
	c := StartCluster(t)
	c.StartWorkloads(t)
	ctx := context.Background()
	ns := c.Namespace(t, "")
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}},
			},
		},
	}
	require.NoError(t, c.Client.Create(ctx, dep))
	Eventually(t, 60*time.Second, "the Deployment to become Available", func() (bool, error) {
		if err := c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, dep); err != nil {
			return false, err
		}
		for _, cond := range dep.Status.Conditions {
			if cond.Type == appsv1.DeploymentAvailable && cond.Status == corev1.ConditionTrue && dep.Status.AvailableReplicas == 2 {
				return true, nil
			}
		}
		return false, fmt.Errorf("status %+v", dep.Status)
	})
	var pods corev1.PodList
	require.NoError(t, c.Client.List(ctx, &pods, client.InNamespace(ns)))
	require.Len(t, pods.Items, 2, "the ReplicaSet made two real Pods")
	for _, p := range pods.Items {
		assert.Equal(t, FakeNodeName, p.Spec.NodeName, "scheduled on the simulated node")
		assert.Equal(t, corev1.PodRunning, p.Status.Phase)
	}
}

func TestPostgres_RoundTrip(t *testing.T) {
	p := StartPostgres(t)
	name, dbURL := p.Database(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE TABLE greetings (id serial PRIMARY KEY, text text NOT NULL)")
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "INSERT INTO greetings (text) VALUES ($1)", "hello")
	require.NoError(t, err)
	var text, db string
	require.NoError(t, conn.QueryRow(ctx, "SELECT text, current_database() FROM greetings").Scan(&text, &db))
	assert.Equal(t, "hello", text)
	assert.Equal(t, name, db)
}

func TestRedis_RoundTrip(t *testing.T) {
	r := StartRedis(t)
	admin := r.Client(t)
	ctx := context.Background()
	user := r.UserName(t)
	require.NoError(t, admin.Do(ctx, "ACL", "SETUSER", user, "on", ">pw-"+user, "~test:"+user+":*", "+@all", "-@dangerous").Err())
	c := redis.NewClient(&redis.Options{Addr: r.Addr, Username: user, Password: "pw-" + user})
	defer c.Close()
	key := "test:" + user + ":greeting"
	require.NoError(t, c.Set(ctx, key, "hello", time.Minute).Err())
	got, err := c.Get(ctx, key).Result()
	require.NoError(t, err)
	assert.Equal(t, "hello", got)
	err = c.Set(ctx, "other:key", "x", time.Minute).Err()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "NOPERM", "the ACL confines the user to its prefix")
	require.NoError(t, admin.Del(ctx, key).Err())
}

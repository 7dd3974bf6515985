package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plattr/plattr/internal/testenv"
	"github.com/plattr/plattr/operator"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/plan"
	"github.com/plattr/plattr/operator/services/postgres"
	"github.com/plattr/plattr/operator/services/redis"
)

// observed is what a person would find of an app: its database, its Redis
// user, its Secrets, its pods' template and its URL.
type observed struct {
	database, redisUser, deployment bool
	secrets                         []string
	template, host                  string
	releaseJobs                     []string
}

// What plattr-gen plan says of a change is what the operator then does: each
// change applied to a real Application on the test ground (real PostgreSQL
// and Redis), and what is there before and after compared with the plan's
// items.
func TestPlan_MatchesTheOperator(t *testing.T) {
	c := testenv.StartCluster(t)
	c.StartWorkloads(t)
	pg := testenv.StartPostgres(t)
	rd := testenv.StartRedis(t)
	ns := envNamespace(t, c)
	const domain = "apps.example.com"
	admin := leastPrivilegeAdmin(t, pg, "plan-admin-pw")
	startOperator(t, c, ns, operator.Config{DBAdminURL: admin, RedisAdminURL: rd.AdminURL, BaseDomain: domain, Resync: time.Second})
	ctx := context.Background()
	target := plan.Target{Env: "plattr", BaseDomain: domain}
	withRedis := func(a *plattrv1.Application) { a.Spec.Redis = &plattrv1.RedisSpec{Enabled: true} }

	look := func(name string) observed {
		var o observed
		o.database = pgExists(t, admin, "database", postgres.Name("plattr", name))
		_, err := rd.Client(t).Do(ctx, "ACL", "GETUSER", redis.User("plattr", name)).Result()
		o.redisUser = err == nil
		if err != nil {
			require.ErrorIs(t, err, goredis.Nil)
		}
		for _, s := range plattrv1.Services {
			err := c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: plattrv1.ServiceSecretName(name, s.Name)}, &corev1.Secret{})
			if err == nil {
				o.secrets = append(o.secrets, s.Name)
			}
		}
		var d appsv1.Deployment
		if err := c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &d); err == nil {
			o.deployment = true
			tpl := d.Spec.Template.DeepCopy()
			delete(tpl.Annotations, "plattr.dev/secrets-hash") // new credentials are not a change of what is asked
			js, _ := json.Marshal(tpl)
			o.template = string(js)
		}
		var ing networkingv1.Ingress
		if err := c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &ing); err == nil && len(ing.Spec.Rules) > 0 {
			o.host = ing.Spec.Rules[0].Host
		}
		var jobs batchv1.JobList
		require.NoError(t, c.Client.List(ctx, &jobs, client.InNamespace(ns), client.MatchingLabels{plattrv1.LabelApp: name}))
		for _, j := range jobs.Items {
			o.releaseJobs = append(o.releaseJobs, j.Name)
		}
		slices.Sort(o.releaseJobs)
		return o
	}
	release := func(sql string) func(*plattrv1.Application) {
		return func(a *plattrv1.Application) {
			a.Spec.Release = &plattrv1.ReleaseSpec{Command: testenv.SQLCommand(t, sql)}
		}
	}
	both := func(fs ...func(*plattrv1.Application)) func(*plattrv1.Application) {
		return func(a *plattrv1.Application) {
			for _, f := range fs {
				f(a)
			}
		}
	}

	for i, tc := range []struct {
		name string
		old  func(*plattrv1.Application)
		new  func(*plattrv1.Application) // nil: the app is removed
	}{
		{"a new image", withRedis, func(a *plattrv1.Application) { a.Spec.Image = image2 }},
		{"redis turned off, deletionPolicy Delete", withRedis, func(a *plattrv1.Application) { a.Spec.Redis = nil }},
		{"redis turned off, deletionPolicy Retain", withRedis, func(a *plattrv1.Application) {
			a.Spec.Redis, a.Spec.DeletionPolicy = nil, plattrv1.DeletionPolicyRetain
		}},
		{"redis turned on", func(*plattrv1.Application) {}, withRedis},
		{"more replicas", withRedis, func(a *plattrv1.Application) { a.Spec.Replicas = ptr.To[int32](2) }},
		{"another host", withRedis, func(a *plattrv1.Application) { a.Spec.Ingress = &plattrv1.Ingress{Host: "elsewhere.example.org"} }},
		{"removed, deletionPolicy Delete", withRedis, nil},
		{"a release phase added", withRedis, release("SELECT 1")},
		{"a new image with a release phase", release("SELECT 1"), both(release("SELECT 1"), func(a *plattrv1.Application) { a.Spec.Image = image2 })},
		{"the release command changed", release("SELECT 1"), release("SELECT 2")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("test-plan-%d", i)
			app := newApp(ns, name, tc.old)
			require.NoError(t, c.Client.Create(ctx, app))
			t.Cleanup(func() { deleteAndWait(t, c, app) })
			old := waitCondition(t, c, app, plattrv1.ConditionReady, metav1.ConditionTrue, "")
			before := look(name)

			var new *plattrv1.Application
			if tc.new != nil {
				new = old.DeepCopy()
				tc.new(new)
			}
			items := plan.Changes(target, old, new)

			if new == nil {
				deleteAndWait(t, c, app)
			} else {
				require.NoError(t, c.Client.Patch(ctx, new, client.MergeFrom(old)))
				testenv.Eventually(t, 60*time.Second, "the operator to apply generation "+fmt.Sprint(new.Generation+1), func() (bool, error) {
					got := mustGet(t, c, app)
					return got.Status.ObservedGeneration == got.Generation && isTrue(got, plattrv1.ConditionReady) &&
						slices.Equal(look(name).secrets, wantSecrets(got)), nil
				})
			}
			after := look(name)

			said := map[string]string{}
			for _, it := range items {
				said[it.Part] = it.Action
			}
			t.Logf("plan: %v", items)
			// The backing services: created, kept or deleted as planned.
			for _, s := range []struct {
				part          string
				before, after bool
			}{{plattrv1.ServiceDatabase.Name, before.database, after.database}, {plattrv1.ServiceRedis.Name, before.redisUser, after.redisUser}} {
				hadSecret, hasSecret := slices.Contains(before.secrets, s.part), slices.Contains(after.secrets, s.part)
				switch said[s.part] {
				case "create":
					assert.True(t, !hadSecret && hasSecret && s.after, "%s: planned create", s.part)
				case "delete":
					assert.True(t, s.before && !s.after && !hasSecret, "%s: planned delete, data gone", s.part)
				case "keep":
					assert.True(t, s.before && s.after && !hasSecret, "%s: planned keep, data still there, Secret gone", s.part)
				case "":
					assert.Equal(t, s.before, s.after, "%s: nothing planned, nothing changed", s.part)
					assert.Equal(t, hadSecret, hasSecret, "%s: nothing planned, its Secret as it was", s.part)
				}
			}
			// The workload.
			switch {
			case said["app"] == "remove":
				assert.False(t, after.deployment, "planned removal: no Deployment")
			case said["workload"] == "restart":
				assert.NotEqual(t, before.template, after.template, "planned restart: the pod template changed")
			default:
				assert.Equal(t, before.template, after.template, "no restart planned: the pod template is as it was")
			}
			// The release phase: a planned run is a Job of its own, anything else none.
			if said[plan.PartRelease] == "run" {
				assert.Len(t, after.releaseJobs, len(before.releaseJobs)+1, "planned run: a new release Job")
			} else {
				assert.Equal(t, before.releaseJobs, after.releaseJobs, "no run planned: no new release Job")
			}
			if said["url"] == "update" {
				assert.NotEqual(t, before.host, after.host, "planned URL change")
				assert.Equal(t, "elsewhere.example.org", after.host)
			} else if new != nil {
				assert.Equal(t, before.host, after.host, "no URL change planned")
			}
			// What Retain kept is this test's to remove, and the app's
			// database goes with it when it is deleted.
			if said[plattrv1.ServiceRedis.Name] == "keep" {
				require.NoError(t, rd.Client(t).Do(ctx, "ACL", "DELUSER", redis.User("plattr", name)).Err())
			}
			if new != nil && !new.Spec.DeletesData() {
				got := mustGet(t, c, app)
				require.NoError(t, c.Client.Patch(ctx, got, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"deletionPolicy":"Delete"}}`))))
				testenv.Eventually(t, 30*time.Second, "deletionPolicy Delete applied", func() (bool, error) {
					got := mustGet(t, c, app)
					return got.Status.ObservedGeneration == got.Generation, nil
				})
			}
		})
	}
}

// wantSecrets are the services whose Secrets an Application asks for.
func wantSecrets(app *plattrv1.Application) []string {
	var out []string
	for _, s := range plattrv1.Services {
		if s.Enabled(&app.Spec) {
			out = append(out, s.Name)
		}
	}
	return out
}

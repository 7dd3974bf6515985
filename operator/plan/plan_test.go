package plan

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

var staging = Target{Env: "staging", BaseDomain: "apps.example.com"}

func app(digest string, edit ...func(*plattrv1.ApplicationSpec)) *plattrv1.Application {
	a := &plattrv1.Application{ObjectMeta: metav1.ObjectMeta{Name: "hello", Namespace: "staging"},
		Spec: plattrv1.ApplicationSpec{Image: "r.example.com/hello@sha256:" + strings.Repeat(digest, 64),
			Database: &plattrv1.DatabaseSpec{Enabled: true}, Redis: &plattrv1.RedisSpec{Enabled: true}}}
	for _, e := range edit {
		e(&a.Spec)
	}
	return a
}

func summary(items []Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, string(it.Class)+" "+it.Part+" "+it.Action)
	}
	return out
}

func TestChanges(t *testing.T) {
	del := func(s *plattrv1.ApplicationSpec) { s.DeletionPolicy = plattrv1.DeletionPolicyDelete }
	noRedis := func(s *plattrv1.ApplicationSpec) { s.Redis = nil }
	for name, tc := range map[string]struct {
		old, new *plattrv1.Application
		want     []string
		worst    Class
	}{
		"nothing":           {app("a"), app("a"), nil, ""},
		"new app":           {nil, app("a"), []string{"safe app create", "safe postgres create", "safe redis create"}, Safe},
		"new image":         {app("a"), app("b"), []string{"disruptive workload restart"}, Disruptive},
		"removed, Retain":   {app("a"), nil, []string{"disruptive app remove", "safe postgres keep", "safe redis keep"}, Disruptive},
		"removed, Delete":   {app("a", del), nil, []string{"disruptive app remove", "destructive postgres delete", "destructive redis delete"}, Destructive},
		"redis off, Delete": {app("a", del), app("a", del, noRedis), []string{"destructive redis delete", "disruptive workload restart"}, Destructive},
		"redis off, Retain": {app("a"), app("a", noRedis), []string{"safe redis keep", "disruptive workload restart"}, Disruptive},
		"redis on":          {app("a", noRedis), app("a"), []string{"safe redis create", "disruptive workload restart"}, Disruptive},
		"policy to Delete":  {app("a"), app("a", del), []string{"safe app update"}, Safe},
		"extensions": {app("a"), app("a", func(s *plattrv1.ApplicationSpec) { s.Database.Extensions = []string{"pgcrypto"} }),
			[]string{"safe postgres update"}, Safe},
		"replicas": {app("a"), app("a", func(s *plattrv1.ApplicationSpec) { s.Replicas = ptr.To[int32](3) }), []string{"safe workload update"}, Safe},
		"to zero":  {app("a"), app("a", func(s *plattrv1.ApplicationSpec) { s.Replicas = ptr.To[int32](0) }), []string{"disruptive workload update"}, Disruptive},
		"new host": {app("a"), app("a", func(s *plattrv1.ApplicationSpec) { s.Ingress = &plattrv1.Ingress{Host: "hello.example.org"} }),
			[]string{"disruptive url update"}, Disruptive},
		"no ingress": {app("a"), app("a", func(s *plattrv1.ApplicationSpec) { s.Ingress = &plattrv1.Ingress{Enabled: ptr.To(false)} }),
			[]string{"disruptive url remove"}, Disruptive},
	} {
		t.Run(name, func(t *testing.T) {
			items := Changes(staging, tc.old, tc.new)
			assert.Equal(t, tc.want, summary(items))
			assert.Equal(t, tc.worst, Worst(items))
		})
	}
}

// The reasons name what happens, where.
func TestChanges_Reasons(t *testing.T) {
	items := Changes(staging, app("a", func(s *plattrv1.ApplicationSpec) { s.DeletionPolicy = plattrv1.DeletionPolicyDelete }), nil)
	assert.Equal(t, "hello leaves staging: its Deployment, Service and Ingress are deleted; https://hello.staging.apps.example.com stops answering", items[0].Reason)
	assert.Equal(t, "PostgreSQL: the database and its role deleted with its data (deletionPolicy Delete), Secret hello-postgres removed", items[1].Reason)
	items = Changes(staging, app("a"), app("b"))
	assert.Equal(t, "pods restart, one at a time: image sha256:aaaaaaaaaaaa → sha256:bbbbbbbbbbbb", items[0].Reason)
	prod := Target{Env: "prod", Production: true, BaseDomain: "apps.example.com"}
	items = Changes(prod, nil, app("a"))
	assert.Equal(t, "hello comes to prod, served at https://hello.apps.example.com", items[0].Reason)
}

// The release phase: the command runs once per image before its pods; a
// rollback over release phases is destructive (the older release meets the
// newer schema), and names them.
func TestChanges_ReleasePhase(t *testing.T) {
	rel := func(cmd ...string) func(*plattrv1.ApplicationSpec) {
		return func(s *plattrv1.ApplicationSpec) { s.Release = &plattrv1.ReleaseSpec{Command: cmd} }
	}
	img := func(d string) string { return app(d).Spec.Image }
	history := []Release{{Image: img("c"), ReleasePhase: true}, {Image: img("b"), ReleasePhase: true}, {Image: img("a")}}
	withHistory := staging
	withHistory.History = history
	for name, tc := range map[string]struct {
		t        Target
		old, new *plattrv1.Application
		want     []string
		worst    Class
	}{
		"new app":          {staging, nil, app("a", rel("migrate")), []string{"safe app create", "safe postgres create", "safe redis create", "safe release run"}, Safe},
		"new image":        {staging, app("a", rel("migrate")), app("b", rel("migrate")), []string{"safe release run", "disruptive workload restart"}, Disruptive},
		"added":            {staging, app("a"), app("a", rel("migrate")), []string{"safe release run"}, Safe},
		"command changed":  {staging, app("a", rel("migrate")), app("a", rel("migrate", "up")), []string{"safe release keep"}, Safe},
		"removed":          {staging, app("a", rel("migrate")), app("a"), []string{"safe release remove"}, Safe},
		"forward, history": {withHistory, app("c", rel("m")), app("d", rel("m")), []string{"safe release run", "disruptive workload restart"}, Disruptive},
		"rollback over two": {withHistory, app("c", rel("m")), app("a"),
			[]string{"destructive release rollback", "safe release remove", "disruptive workload restart"}, Destructive},
		"rollback over one": {withHistory, app("c", rel("m")), app("b", rel("m")),
			[]string{"destructive release rollback", "safe release run", "disruptive workload restart"}, Destructive},
		"rollback, no phases": {Target{Env: "staging", History: []Release{{Image: img("b")}, {Image: img("a")}}}, app("b"), app("a"),
			[]string{"disruptive workload restart"}, Disruptive},
		// a → b → a (rolled back): b again is no rollback, its migrations ran before.
		"forward again after a rollback": {Target{Env: "staging", History: []Release{{Image: img("a"), ReleasePhase: true}, {Image: img("b"), ReleasePhase: true}, {Image: img("a"), ReleasePhase: true}}},
			app("a", rel("m")), app("b", rel("m")), []string{"safe release run", "disruptive workload restart"}, Disruptive},
	} {
		t.Run(name, func(t *testing.T) {
			items := Changes(tc.t, tc.old, tc.new)
			assert.Equal(t, tc.want, summary(items))
			assert.Equal(t, tc.worst, Worst(items))
		})
	}
	items := Changes(withHistory, app("c", rel("m")), app("a"))
	assert.Equal(t, "rolls back to sha256:aaaaaaaaaaaa over the release phase of sha256:cccccccccccc, sha256:bbbbbbbbbbbb: "+
		"the older release runs against the schema they left (their migrations must be backward compatible — expand/contract — "+
		"or be undone by a down migration first)", items[0].Reason)
}

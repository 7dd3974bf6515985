// Package plan says what the operator will do when an Application changes:
// for an app in an environment, from what it was (nil: absent) to what it
// will be (nil: removed), each backing service created, kept or deleted with
// its data, pods restarted, the URL changed, the app removed. It decides with
// the operator's own rules and builders (the deletion policy, the services'
// table, the workload the controller applies), not a description of them.
package plan

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/plattr/plattr/generator"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/controller"
)

// Class is how much a change costs.
type Class string

// The classes, worst first.
const (
	// Destructive: data is lost.
	Destructive Class = "destructive"
	// Disruptive: pods restart, a URL changes or stops answering.
	Disruptive Class = "disruptive"
	// Safe: nothing running is disturbed and nothing is lost.
	Safe Class = "safe"
)

// Rank orders classes: Destructive 2, Disruptive 1, Safe 0; -1 for another.
func (c Class) Rank() int {
	switch c {
	case Destructive:
		return 2
	case Disruptive:
		return 1
	case Safe:
		return 0
	}
	return -1
}

// Item is one thing the operator will do.
type Item struct {
	Env string `json:"environment"`
	// Production: Env is a production environment.
	Production bool   `json:"production,omitempty"`
	App        string `json:"app"`
	Part       string `json:"part"`   // "app", "workload", "url", or a backing service's name (postgres, redis, …)
	Action     string `json:"action"` // create, delete, keep, update, restart, remove
	Class      Class  `json:"class"`
	Reason     string `json:"reason"`
}

// Target is where the app runs: its environment, and the settings the
// operator of that environment has.
type Target struct {
	Env        string
	Production bool
	BaseDomain string
	// OldBaseDomain is the base domain before the change, when it changes.
	OldBaseDomain string
	// History is the app's releases in the environment before the change,
	// newest (the running one) first, as the env repo's history has them;
	// nil when unknown. It tells a rollback, and the release phases it goes
	// back over.
	History []Release
}

// Release is one release of an app in an environment.
type Release struct {
	Image string
	// ReleasePhase: it has a release command, which ran before its pods.
	ReleasePhase bool
}

// Changes is what the operator of t will do when app changes from old to new
// (either nil: absent).
func Changes(t Target, old, new *plattrv1.Application) []Item {
	var items []Item
	add := func(app, part, action string, c Class, format string, args ...any) {
		items = append(items, Item{Env: t.Env, Production: t.Production, App: app, Part: part, Action: action, Class: c, Reason: fmt.Sprintf(format, args...)})
	}
	switch {
	case old == nil && new == nil:
		return nil
	case new == nil:
		add(old.Name, "app", "remove", Disruptive, "%s leaves %s: its Deployment, Service and Ingress are deleted%s", old.Name, t.Env, stopsAnswering(t, old))
		for _, s := range plattrv1.Services {
			if s.Enabled(&old.Spec) {
				items = append(items, removal(t, old, s, &old.Spec))
			}
		}
		return items
	case old == nil:
		add(new.Name, "app", "create", Safe, "%s comes to %s%s", new.Name, t.Env, served(t, new))
		for _, s := range plattrv1.Services {
			if s.Enabled(&new.Spec) {
				add(new.Name, s.Name, "create", Safe, "%s: created, credentials in Secret %s", s.Backend, plattrv1.ServiceSecretName(new.Name, s.Name))
			}
		}
		if r := new.Spec.Release; r != nil {
			add(new.Name, PartRelease, "run", Safe, "the release command %s runs once, after the services and before the first pods", command(r))
		}
		return items
	}
	name := new.Name
	for _, s := range plattrv1.Services {
		was, is := s.Enabled(&old.Spec), s.Enabled(&new.Spec)
		switch {
		case was && !is:
			// The operator decides with the spec it is given: the new one.
			items = append(items, removal(t, new, s, &new.Spec))
		case !was && is:
			add(name, s.Name, "create", Safe, "%s: created, credentials in Secret %s (pods restart to read them)", s.Backend, plattrv1.ServiceSecretName(name, s.Name))
		}
	}
	if old.Spec.Database != nil && new.Spec.Database != nil && old.Spec.Database.Enabled && new.Spec.Database.Enabled {
		added, removed := diff(old.Spec.Database.Extensions, new.Spec.Database.Extensions)
		if len(added) > 0 {
			add(name, plattrv1.ServiceDatabase.Name, "update", Safe, "extensions %s created in the database", strings.Join(added, ", "))
		}
		if len(removed) > 0 {
			add(name, plattrv1.ServiceDatabase.Name, "keep", Safe, "extensions %s no longer asked for: kept in the database (never dropped)", strings.Join(removed, ", "))
		}
	}
	if old.Spec.DeletesData() != new.Spec.DeletesData() {
		what := "Retain: removing a service or the app keeps its data"
		if new.Spec.DeletesData() {
			what = "Delete: removing a service or the app from now on deletes its data"
		}
		add(name, "app", "update", Safe, "deletionPolicy becomes %s", what)
	}
	items = append(items, release(t, old, new)...)
	items = append(items, workload(t, old, new)...)
	return items
}

// PartRelease is the plan's part for the release phase.
const PartRelease = "release"

// release is what the operator does with the release phase: it runs the
// command once per image before that image's pods (controller.ReleaseJob),
// and a rollback goes back over the release phases that ran since its target.
func release(t Target, old, new *plattrv1.Application) []Item {
	var items []Item
	add := func(action string, c Class, format string, args ...any) {
		items = append(items, Item{Env: t.Env, Production: t.Production, App: new.Name, Part: PartRelease, Action: action, Class: c, Reason: fmt.Sprintf(format, args...)})
	}
	if since, ok := rolledBackOver(t.History, new.Spec.Image); ok && len(since) > 0 {
		add("rollback", Destructive, "rolls back to %s over the release phase of %s: the older release runs against the schema they left "+
			"(their migrations must be backward compatible — expand/contract — or be undone by a down migration first)",
			generator.ShortImage(new.Spec.Image), strings.Join(since, ", "))
	}
	r := new.Spec.Release
	switch {
	case r == nil && old.Spec.Release != nil:
		add("remove", Safe, "no release phase: later images roll out without one")
	case r == nil:
	case old.Spec.Image != new.Spec.Image:
		add("run", Safe, "the release command %s runs for %s before its pods roll out, unless it ran for that image already; "+
			"if it fails, the previous release keeps serving", command(r), generator.ShortImage(new.Spec.Image))
	case old.Spec.Release == nil:
		add("run", Safe, "release phase added: %s runs for the running image %s before this change rolls out", command(r), generator.ShortImage(new.Spec.Image))
	case !slices.Equal(old.Spec.Release.Command, r.Command):
		add("keep", Safe, "the release command becomes %s: it runs with the next image (an image's release command runs once)", command(r))
	}
	return items
}

// rolledBackOver says whether image is a rollback in history: the
// environment first ran it before it first ran the running release (an image
// released again after a rollback away from it is no rollback: its migrations
// ran before). It names the releases with a release phase that came after
// image first ran, newest first.
func rolledBackOver(history []Release, image string) (since []string, ok bool) {
	if len(history) == 0 || history[0].Image == image {
		return nil, false
	}
	firstRun := func(img string) int { // the oldest entry of img: the largest index
		last := -1
		for i, h := range history {
			if h.Image == img {
				last = i
			}
		}
		return last
	}
	at := firstRun(image)
	if at < 0 || at <= firstRun(history[0].Image) {
		return nil, false
	}
	for _, h := range history[:at] {
		if h.ReleasePhase && h.Image != image && firstRun(h.Image) < at && !slices.Contains(since, generator.ShortImage(h.Image)) {
			since = append(since, generator.ShortImage(h.Image))
		}
	}
	return since, true
}

// command shows a release command, shortened.
func command(r *plattrv1.ReleaseSpec) string {
	s := strings.Join(r.Command, " ")
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return "`" + strings.ReplaceAll(s, "`", "'") + "`"
}

// removal is what happens to service s of app when spec no longer asks for it.
func removal(t Target, app *plattrv1.Application, s plattrv1.Service, spec *plattrv1.ApplicationSpec) Item {
	it := Item{Env: t.Env, Production: t.Production, App: app.Name, Part: s.Name}
	if spec.DeletesData() {
		it.Action, it.Class = "delete", Destructive
		it.Reason = fmt.Sprintf("%s: %s deleted with its data (deletionPolicy Delete), Secret %s removed", s.Backend, dataOf(s), plattrv1.ServiceSecretName(app.Name, s.Name))
		return it
	}
	it.Action, it.Class = "keep", Safe
	it.Reason = fmt.Sprintf("%s: %s kept (deletionPolicy Retain)", s.Backend, dataOf(s))
	return it
}

// dataOf says what a service's data is.
func dataOf(s plattrv1.Service) string {
	switch s.Name {
	case plattrv1.ServiceDatabase.Name:
		return "the database and its role"
	case plattrv1.ServiceRedis.Name:
		return "the Redis user and every key under its prefix"
	case plattrv1.ServiceSearch.Name:
		return "the indices under its prefix, its role and user"
	case plattrv1.ServiceAuth.Name:
		return "the OIDC client"
	}
	return "its data"
}

// secretsOf are the Secrets the app's pods read, in the services' order, as
// the controller lists them.
func secretsOf(app *plattrv1.Application) []string {
	var out []string
	for _, s := range plattrv1.Services {
		if s.Enabled(&app.Spec) {
			out = append(out, plattrv1.ServiceSecretName(app.Name, s.Name))
		}
	}
	return out
}

// workload compares what the controller would apply for old and for new.
func workload(t Target, old, new *plattrv1.Application) []Item {
	var items []Item
	add := func(part, action string, c Class, format string, args ...any) {
		items = append(items, Item{Env: t.Env, Production: t.Production, App: new.Name, Part: part, Action: action, Class: c, Reason: fmt.Sprintf(format, args...)})
	}
	before := t
	if t.OldBaseDomain != "" {
		before.BaseDomain = t.OldBaseDomain
	}
	oldHost, newHost := host(before, old), host(t, new)
	a := controller.DesiredWorkload(old, oldHost, secretsOf(old), "", controller.Workload{})
	b := controller.DesiredWorkload(new, newHost, secretsOf(new), "", controller.Workload{})
	if !equality.Semantic.DeepEqual(a.Deployment.Spec.Template, b.Deployment.Spec.Template) {
		var why []string
		if old.Spec.Image != new.Spec.Image {
			why = append(why, fmt.Sprintf("image %s → %s", generator.ShortImage(old.Spec.Image), generator.ShortImage(new.Spec.Image)))
		}
		if !slices.Equal(secretsOf(old), secretsOf(new)) {
			why = append(why, "the Secrets it reads")
		}
		if len(why) == 0 {
			why = append(why, "the pod template")
		}
		add("workload", "restart", Disruptive, "pods restart, one at a time: %s", strings.Join(why, ", "))
	}
	was, is := *a.Deployment.Spec.Replicas, *b.Deployment.Spec.Replicas
	switch {
	case was == is:
	case is == 0:
		add("workload", "update", Disruptive, "scaled from %d replicas to 0: nothing serves", was)
	default:
		add("workload", "update", Safe, "replicas %d → %d", was, is)
	}
	switch {
	case a.Ingress != nil && b.Ingress == nil:
		add("url", "remove", Disruptive, "the Ingress is removed: https://%s stops answering", oldHost)
	case a.Ingress == nil && b.Ingress != nil:
		add("url", "create", Safe, "served at https://%s (DNS record and certificate made)", newHost)
	case a.Ingress != nil && oldHost != newHost:
		extra := ""
		if plattrv1.ServiceAuth.Enabled(&new.Spec) {
			extra = "; the OIDC client's redirect URIs move with it"
		}
		add("url", "update", Disruptive, "the URL changes from https://%s to https://%s: a DNS record and certificate for the new host, the old one stops answering%s", oldHost, newHost, extra)
	}
	return items
}

func host(t Target, app *plattrv1.Application) string {
	return plattrv1.HostOf(app, t.Env, t.BaseDomain, t.Production)
}

func served(t Target, app *plattrv1.Application) string {
	if h := host(t, app); h != "" {
		return ", served at https://" + h
	}
	return ""
}

func stopsAnswering(t Target, app *plattrv1.Application) string {
	if h := host(t, app); h != "" {
		return "; https://" + h + " stops answering"
	}
	return ""
}

func diff(old, new []string) (added, removed []string) {
	for _, x := range new {
		if !slices.Contains(old, x) {
			added = append(added, x)
		}
	}
	for _, x := range old {
		if !slices.Contains(new, x) {
			removed = append(removed, x)
		}
	}
	return added, removed
}

// Worst is the worst class among items ("" with none).
func Worst(items []Item) Class {
	var worst Class
	for _, it := range items {
		if worst == "" || it.Class.Rank() > worst.Rank() {
			worst = it.Class
		}
	}
	return worst
}

package ops

import (
	"sort"

	"github.com/plattr/plattr/envfiles"
	"github.com/plattr/plattr/generator"
	"github.com/plattr/plattr/generator/names"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

// RemovePreview removes the preview of a pull request (preview delete).
type RemovePreview struct {
	App string
	PR  int
}

// Name is the preview's name: <app>-pr-<n>.
func (r RemovePreview) Name() string { return names.Preview(r.App, r.PR) }

// Plan removes the preview's folder and child Application; no files when there
// is no such preview.
func (r RemovePreview) Plan(tree envfiles.Tree) (Plan, error) {
	files, err := generator.RemoveApp(names.PreviewEnv, r.Name(), tree)
	if err != nil {
		return Plan{}, err
	}
	return Plan{Files: files, Message: removePreviewMessage(r.App, r.PR)}, nil
}

// GCPreviews removes the previews of AppRepo whose pull requests are closed
// (preview gc). State tells a pull request's state ("open", "closed"); it is
// asked once per pull request, however many times Plan runs.
type GCPreviews struct {
	AppRepo string
	State   func(pr int) (string, error)
	asked   map[int]string
}

// GCPlan is a gc's plan: the previews it removes, sorted.
type GCPlan struct {
	Plan
	Removed []string
}

// Plan removes every preview released from AppRepo (its source annotation)
// whose pull request is closed. Previews of other repositories, and names that
// are not previews, are left alone.
func (g *GCPreviews) Plan(tree envfiles.Tree) (GCPlan, error) {
	previews, err := generator.Apps(tree, names.PreviewEnv)
	if err != nil {
		return GCPlan{}, err
	}
	plan := GCPlan{Plan: Plan{Files: envfiles.Files{}}}
	for _, p := range previews {
		_, n, ok := names.ParsePreview(p)
		if !ok {
			continue
		}
		release, err := tree.ReadFile(generator.ReleasePath(names.PreviewEnv, p))
		if err != nil {
			return GCPlan{}, err
		}
		app, err := generator.ParseRelease(release)
		if err != nil || app.Annotations[plattrv1.AnnotationSourceRepo] != g.AppRepo {
			continue
		}
		state, err := g.state(n)
		if err != nil {
			return GCPlan{}, err
		}
		if state != "closed" {
			continue
		}
		f, err := generator.RemoveApp(names.PreviewEnv, p, envfiles.Overlay{Base: tree, Changes: plan.Files})
		if err != nil {
			return GCPlan{}, err
		}
		for k, v := range f {
			plan.Files[k] = v
		}
		plan.Removed = append(plan.Removed, p)
	}
	sort.Strings(plan.Removed)
	plan.Message = gcMessage(plan.Removed)
	return plan, nil
}

func (g *GCPreviews) state(pr int) (string, error) {
	if s, ok := g.asked[pr]; ok {
		return s, nil
	}
	s, err := g.State(pr)
	if err != nil {
		return "", err
	}
	if g.asked == nil {
		g.asked = map[int]string{}
	}
	g.asked[pr] = s
	return s, nil
}

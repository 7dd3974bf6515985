package ops

import (
	"fmt"

	"github.com/plattr/plattr/envfiles"
	"github.com/plattr/plattr/generator"
)

// Render releases an image of an app into an environment or a preview
// (render), on the env repo's Branch (which Argo CD must follow).
type Render struct {
	Release generator.Release
	Branch  string
}

// RenderPlan is a render's plan and where the release lands.
type RenderPlan struct {
	Plan
	Target generator.Target
}

// Plan renders the release into tree.
func (r Render) Plan(tree envfiles.Tree) (RenderPlan, error) {
	if p, ok := tree.(envfiles.Prefetcher); ok {
		if err := p.Prefetch(generator.Reads(r.Release, tree)); err != nil {
			return RenderPlan{}, err
		}
	}
	cfg, err := generator.ReadConfig(tree)
	if err != nil {
		return RenderPlan{}, err
	}
	if cfg.TargetRevision != r.Branch {
		return RenderPlan{}, InputError{fmt.Errorf("--branch %s: Argo CD follows %s (%s's targetRevision), so a commit to %s would never deploy: give --branch %s",
			r.Branch, cfg.TargetRevision, generator.ConfigFile, r.Branch, cfg.TargetRevision)}
	}
	files, t, err := generator.Render(cfg, r.Release, tree)
	if err != nil {
		return RenderPlan{}, err
	}
	return RenderPlan{Plan: Plan{Files: files, Message: deployMessage(r.Release, t)}, Target: t}, nil
}

// Where names the destination of the release for people, before any plan.
func (r Render) Where() string { return where(r.Release.Env, r.Release.PR) }

package ops

import (
	"fmt"
	"strings"

	"github.com/plattr/plattr/envfiles"
	"github.com/plattr/plattr/generator"
)

// Promote copies releases from one environment to the next (promote): one App,
// or with All every app whose release differs.
type Promote struct {
	App      string
	All      bool
	From, To string
	// Force allows skipping environments of the promotion order and passes
	// the gates; the commit and the pull request say so.
	Force bool
	// Gates checks the target environment's gates for the releases that
	// change (nil: none are checked). Unless Pending or Force, a promotion
	// whose gates do not hold is refused (GateError) and nothing is pushed.
	Gates func(*generator.Config, []ReleaseChange) (GateCheck, error)
	// Pending opens the pull request even when the gates do not hold yet.
	Pending bool
}

// PromotePlan is a promotion's plan: per app, the release before and after.
type PromotePlan struct {
	Plan
	Changes []ReleaseChange
	// Gates is what the gates said (nil when they were not checked).
	Gates *GateCheck
}

// Branch is the promotion's pull request branch: plattr/promote-<to>-<app>, or
// plattr/promote-<from>-to-<to> for --all.
func (p Promote) Branch() string {
	if p.All {
		return promoteBranch("", p.From, p.To)
	}
	return promoteBranch(p.App, p.From, p.To)
}

// Plan copies each release that differs.
func (p Promote) Plan(tree envfiles.Tree) (PromotePlan, error) {
	cfg, err := generator.ReadConfig(tree)
	if err != nil {
		return PromotePlan{}, err
	}
	if err := cfg.CheckPromotion(p.From, p.To, p.Force); err != nil {
		return PromotePlan{}, err
	}
	apps := []string{p.App}
	if p.All {
		if apps, err = generator.Apps(tree, p.From); err != nil {
			return PromotePlan{}, err
		}
	}
	plan := PromotePlan{Plan: Plan{Files: envfiles.Files{}}}
	for _, app := range apps {
		f, err := generator.Promote(cfg, app, p.From, p.To, tree)
		if err != nil {
			return PromotePlan{}, err
		}
		if len(f) == 0 {
			continue // already released there
		}
		target := generator.ReleasePath(p.To, app)
		old, _ := tree.ReadFile(target) // Promote read it: absent or readable
		plan.Changes = append(plan.Changes, ReleaseChange{App: app, Old: old, New: f[target]})
		for k, d := range f {
			plan.Files[k] = d
		}
	}
	plan.Message = promoteMessage(p.From, p.To, plan.Changes)
	if p.Gates != nil && len(plan.Changes) > 0 {
		check, err := p.Gates(cfg, plan.Changes)
		if err != nil {
			return PromotePlan{}, err
		}
		if !check.Pass && !p.Pending {
			return PromotePlan{}, &GateError{To: p.To, Check: check}
		}
		plan.Gates = &check
		if p.Force && len(check.Reasons) > 0 {
			plan.Message = forcedMessage(plan.Message, check.Reasons)
		}
	}
	return plan, nil
}

// Proposal is the promotion's pull request.
func (p Promote) Proposal(plan PromotePlan) Proposal {
	changes := plan.Changes
	apps := make([]string, len(changes))
	for i, c := range changes {
		apps[i] = c.App
	}
	title := fmt.Sprintf("Promote %s to %s", strings.Join(apps, ", "), p.To)
	if len(apps) > 3 {
		title = fmt.Sprintf("Promote %d apps from %s to %s", len(apps), p.From, p.To)
	}
	count := "1 app"
	if len(apps) != 1 {
		count = fmt.Sprintf("%d apps", len(apps))
	}
	intro := fmt.Sprintf("Promotes %s from **%s** to **%s**. Merging this pull request is the promotion; Argo CD then syncs %s.",
		count, p.From, p.To, p.To)
	if plan.Gates != nil {
		if d := plan.Gates.Describe(p.Force); d != "" {
			intro += "\n\n" + d
		}
	}
	return Proposal{Branch: p.Branch(), Title: title, Body: Describe(intro, changes), Labels: []string{LabelPromotion, envLabel(p.To)}}
}

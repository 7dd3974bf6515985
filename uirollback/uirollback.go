// Package uirollback brings a rollback made in Argo CD back to git. Argo CD
// rolls an Application back only with its automated sync turned off (its UI
// offers to do both); git and the cluster then disagree until someone reverts
// by hand. The Reconciler notices a Plattr child Application whose automated
// sync is off and whose last sync, started by a person, went to an earlier
// release than the branch has; it opens the rollback pull request plattr-gen
// rollback would (naming who rolled back and when) and remembers it on the
// Application. Once git has that release (the pull request merged), it turns
// the Application's automated sync on again.
//
// It is not part of the Plattr operator, which never writes git: it runs
// where Argo CD runs, with the env repo's token.
package uirollback

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	synccommon "github.com/argoproj/argo-cd/gitops-engine/pkg/sync/common"
	argov1 "github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"

	"github.com/plattr/plattr/envfiles"
	"github.com/plattr/plattr/generator"
	"github.com/plattr/plattr/generator/names"
	"github.com/plattr/plattr/gitops"
	"github.com/plattr/plattr/gitops/pulls"
	"github.com/plattr/plattr/internal/envhistory"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/ops"
)

// AnnotationPullRequest on a child Application is the rollback pull request
// (its URL, or its branch without GitHub) the Reconciler opened for it: while
// it is there, the Reconciler turns automated sync on again once git agrees.
const AnnotationPullRequest = "plattr.dev/rollback-pull-request"

// DefaultDepth is how many commits of the env repo are read back.
const DefaultDepth = 500

// Reconciler watches Argo CD's Applications in Namespace.
type Reconciler struct {
	Client    client.Client
	Namespace string
	// Open opens the env repo's branch (afresh: it moves).
	Open func(ctx context.Context) (*gitops.Repo, error)
	// PullRequests opens the pull request; nil pushes the branch only.
	PullRequests *pulls.Client
	// Base is the env repo's branch Argo CD follows.
	Base  string
	Depth int
	Log   logr.Logger
}

// recheck is how soon an Application with an open rollback pull request is
// looked at again (its merge moves git, which makes no event here).
const recheck = time.Minute

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var a argov1.Application
	if err := r.Client.Get(ctx, req.NamespacedName, &a); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	env, app := a.Labels[plattrv1.LabelEnvironment], a.Labels[plattrv1.LabelApp]
	if env == "" || app == "" || env == names.PreviewEnv || names.Env(env) != nil || names.App(app) != nil {
		return ctrl.Result{}, nil // not a child Plattr made of an environment
	}
	pending := a.Annotations[AnnotationPullRequest]
	if autoSync(&a) {
		if pending != "" { // someone turned it on: nothing left to do
			return ctrl.Result{}, r.annotate(ctx, &a, "")
		}
		return ctrl.Result{}, nil
	}
	op := a.Status.OperationState
	if op == nil || op.SyncResult == nil || op.Phase != synccommon.OperationSucceeded || !plumbing.IsHash(op.SyncResult.Revision) {
		return ctrl.Result{}, nil
	}
	live := op.SyncResult.Revision
	repo, err := r.Open(ctx)
	if err != nil {
		return ctrl.Result{}, err
	}
	// Only the env repo's own child of that app: its name, repository and
	// folder, as plattr-gen writes it. Labels alone are anyone's to set.
	if tree, err := repo.Tree(); err != nil {
		return ctrl.Result{}, err
	} else if cfg, err := generator.ReadConfig(tree); err != nil || !ownChild(&a, cfg, env, app) {
		return ctrl.Result{}, err
	}
	if strings.HasPrefix(pending, declined) {
		return ctrl.Result{}, nil // its pull request was closed: a person's to resolve
	}
	if pending != "" && r.PullRequests != nil {
		if n := prNumber(pending); n > 0 {
			pr, err := r.PullRequests.Get(ctx, n)
			if err != nil {
				return ctrl.Result{}, err
			}
			if pr.State == "closed" && !pr.Merged {
				r.Log.Info("the rollback pull request was closed without merging: nothing more is proposed while automated sync is off", "application", a.Name, "pullRequest", pending)
				return ctrl.Result{}, r.annotate(ctx, &a, declined+pending)
			}
		}
	}
	file := generator.ReleasePath(env, app)
	history, err := repo.History(ctx, file, r.depth())
	if err != nil {
		return ctrl.Result{}, err
	}
	if len(history) == 0 {
		return ctrl.Result{}, nil // the app left the environment
	}
	running, err := repo.FileAt(ctx, live, file)
	if errors.Is(err, fs.ErrNotExist) {
		r.Log.Info("the revision Argo CD synced is not in the history read", "application", a.Name, "revision", live)
		return ctrl.Result{}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	if bytes.Equal(running, history[0].Content) {
		if pending == "" {
			return ctrl.Result{}, nil // turned off by a person, nothing to bring back: theirs to turn on
		}
		if err := r.turnOn(ctx, &a); err != nil {
			return ctrl.Result{}, err
		}
		r.Log.Info("git has the rollback: automated sync is on again", "application", a.Name, "pullRequest", pending)
		return ctrl.Result{}, nil
	}
	versions := envhistory.Versions(history)
	target := -1
	for i, v := range versions {
		if bytes.Equal(v.Content, running) {
			target = i
			break
		}
	}
	// The rollback reached git (its pull request merged) and git moved on
	// since: automated sync goes on, and syncs what git has now.
	if pending != "" && target > 0 && !versions[target].When.Before(op.StartedAt.Time) {
		if err := r.turnOn(ctx, &a); err != nil {
			return ctrl.Result{}, err
		}
		r.Log.Info("git had the rollback, and moved on: automated sync is on again", "application", a.Name, "pullRequest", pending)
		return ctrl.Result{}, nil
	}
	// A rollback: an earlier release, synced by a person on purpose (to
	// that revision) after the release that replaced it was in git. Not a
	// pause during which git moved on.
	if target <= 0 || op.Operation.InitiatedBy.Automated || op.Operation.Sync == nil || op.Operation.Sync.Revision != live ||
		versions[target-1].When.After(op.StartedAt.Time) {
		return ctrl.Result{}, nil
	}
	rb := ops.Rollback{App: app, Env: env, To: versions[target].Commit,
		InArgoCD: &ops.ArgoCDRollback{By: op.Operation.InitiatedBy.Username, At: op.StartedAt.Time, Revision: live}}
	plan, err := rb.Plan(versions, r.depth())
	if err != nil || len(plan.Files) == 0 {
		return ctrl.Result{}, err
	}
	prop, err := repo.Propose(ctx, rb.Branch(), func(envfiles.Tree) (envfiles.Files, string, error) {
		return plan.Files, plan.Message.String(), nil
	})
	if err != nil {
		return ctrl.Result{}, err
	}
	where := prop.Branch
	if r.PullRequests != nil {
		p := rb.Proposal(plan)
		pr, _, err := r.PullRequests.Ensure(ctx, pulls.Spec{Head: p.Branch, Base: r.base(), Title: p.Title, Body: p.Body, Labels: p.Labels})
		if err != nil {
			return ctrl.Result{}, fmt.Errorf("branch %s is pushed, but the pull request failed: %w", p.Branch, err)
		}
		where = pr.URL
	}
	if where != pending {
		r.Log.Info("rolled back in Argo CD: proposed to git", "application", a.Name, "by", op.Operation.InitiatedBy.Username, "pullRequest", where)
		if err := r.annotate(ctx, &a, where); err != nil {
			return ctrl.Result{}, err
		}
	}
	return ctrl.Result{RequeueAfter: recheck}, nil
}

// declined prefixes the annotation of a rollback whose pull request was
// closed without merging.
const declined = "declined: "

// ownChild says whether a is the child Application plattr-gen writes for app
// in env of the env repo cfg describes.
func ownChild(a *argov1.Application, cfg *generator.Config, env, app string) bool {
	src := a.Spec.Source
	return a.Name == (generator.Target{Env: env, Name: app}).ChildName() && src != nil &&
		src.RepoURL == cfg.RepoURL && src.Path == generator.AppDir(env, app)
}

// prNumber is the number at the end of a pull request's URL (0: none).
func prNumber(url string) int {
	i := strings.LastIndex(url, "/pull/")
	if i < 0 {
		return 0
	}
	n, err := strconv.Atoi(url[i+len("/pull/"):])
	if err != nil {
		return 0
	}
	return n
}

func (r *Reconciler) depth() int {
	if r.Depth > 0 {
		return r.Depth
	}
	return DefaultDepth
}

func (r *Reconciler) base() string {
	if r.Base != "" {
		return r.Base
	}
	return "main"
}

// autoSync says whether the Application's automated sync is on.
func autoSync(a *argov1.Application) bool {
	p := a.Spec.SyncPolicy
	return p != nil && p.Automated != nil && (p.Automated.Enabled == nil || *p.Automated.Enabled)
}

// turnOn sets the automated sync Plattr writes, and forgets the pull request.
func (r *Reconciler) turnOn(ctx context.Context, a *argov1.Application) error {
	auto, err := json.Marshal(generator.AutoSync())
	if err != nil {
		return err
	}
	var fields map[string]any
	if err := json.Unmarshal(auto, &fields); err != nil {
		return err
	}
	fields["enabled"], fields["allowEmpty"] = nil, nil // as git has it: unset
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"annotations": map[string]any{AnnotationPullRequest: nil}},
		"spec":     map[string]any{"syncPolicy": map[string]any{"automated": fields}},
	})
	if err != nil {
		return err
	}
	return r.Client.Patch(ctx, a, client.RawPatch(types.MergePatchType, patch))
}

// annotate records the pull request on the Application ("" removes it).
func (r *Reconciler) annotate(ctx context.Context, a *argov1.Application, where string) error {
	var value any
	if where != "" {
		value = where
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{AnnotationPullRequest: value}}})
	if err != nil {
		return err
	}
	err = r.Client.Patch(ctx, a, client.RawPatch(types.MergePatchType, patch))
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// SetupWithManager watches the Applications of r.Namespace.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).Named("uirollback").For(&argov1.Application{}).Complete(r)
}

package controller

import (
	"context"
	"fmt"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/log"

	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/ghdeploy"
	"github.com/plattr/plattr/operator/services"
)

// GitHubDeployments records releases as GitHub Deployments (ghdeploy.Client).
type GitHubDeployments interface {
	Create(ctx context.Context, r ghdeploy.Release, state string) (int64, error)
	SetState(ctx context.Context, repo string, id int64, state, url string) error
}

// Reasons of ConditionGitHubDeployment.
const (
	ReasonRecorded      = "Recorded"
	ReasonGitHubFailed  = "GitHubFailed"
	reasonNotConfigured = ReasonNotConfigured
	gitHubTimeout       = 15 * time.Second
	gitHubNotConfigured = "the operator has no GitHub access (GITHUB_TOKEN): the release is not recorded on its repository"
)

// reportDeployment records the release app runs as a GitHub Deployment on its
// source repository and keeps its state that of the Application: in_progress
// while it rolls out, success once Ready, failure when Stalled; the deployment
// it replaced turns inactive once it succeeds. Only a change calls GitHub: what
// was recorded is in the status. An app without source annotations is not
// reported; without GitHub access the condition says so.
func (r *ApplicationReconciler) reportDeployment(ctx context.Context, app *plattrv1.Application, inst services.Instance, st *status) error {
	repo, commit := app.Annotations[plattrv1.AnnotationSourceRepo], app.Annotations[plattrv1.AnnotationSourceCommit]
	if repo == "" || commit == "" {
		st.remove(plattrv1.ConditionGitHubDeployment)
		return nil
	}
	if r.GitHub == nil {
		st.set(app, plattrv1.ConditionGitHubDeployment, false, reasonNotConfigured, gitHubNotConfigured)
		return nil
	}
	want := ghdeploy.StateInProgress
	switch {
	case st.ready:
		want = ghdeploy.StateSuccess
	case st.stalled:
		want = ghdeploy.StateFailure
	}
	rel := ghdeploy.Release{Repo: repo, Commit: commit, Environment: inst.Env, Image: app.Spec.Image, App: app.Name, URL: st.URL,
		Production: inst.Env == r.Config.productionEnv()}
	if inst.Env == plattrv1.PreviewEnv {
		rel.Environment, rel.Transient = app.Name, true
	}
	ctx, cancel := context.WithTimeout(ctx, gitHubTimeout)
	defer cancel()
	cur := st.GitHubDeployment
	var err error
	switch {
	case cur == nil || cur.Repository != repo || cur.Commit != commit || cur.Image != app.Spec.Image || cur.Environment != rel.Environment:
		var replaces int64
		if cur != nil && cur.Repository == repo && cur.Environment == rel.Environment {
			replaces = cur.Replaces
			if cur.State == ghdeploy.StateSuccess {
				replaces = cur.ID
			}
		}
		var id int64
		if id, err = r.GitHub.Create(ctx, rel, want); err == nil {
			cur = &plattrv1.GitHubDeploymentStatus{ID: id, Repository: repo, Commit: commit, Image: app.Spec.Image,
				Environment: rel.Environment, State: want, Replaces: replaces}
		}
	case cur.State != want:
		if last, ok := r.recorded.Load(cur.ID); !ok || last != want {
			err = r.GitHub.SetState(ctx, repo, cur.ID, want, st.URL)
		}
		if err == nil {
			cur = cur.DeepCopy()
			cur.State = want
		}
	}
	if err == nil && cur != nil {
		r.recorded.Store(cur.ID, cur.State)
	}
	if err == nil && cur.State == ghdeploy.StateSuccess && cur.Replaces != 0 {
		if err = r.GitHub.SetState(ctx, repo, cur.Replaces, ghdeploy.StateInactive, ""); err == nil {
			r.recorded.Delete(cur.Replaces) // done with: nothing is written to it again
			cur = cur.DeepCopy()
			cur.Replaces = 0
		}
	}
	if err != nil {
		st.set(app, plattrv1.ConditionGitHubDeployment, false, ReasonGitHubFailed, err.Error())
		return fmt.Errorf("record the release on GitHub: %w", err)
	}
	st.GitHubDeployment = cur
	st.set(app, plattrv1.ConditionGitHubDeployment, true, ReasonRecorded,
		fmt.Sprintf("deployment %d of %s at %.12s in %s: %s", cur.ID, repo, commit, rel.Environment, cur.State))
	return nil
}

// retireDeployment marks the deployment of a removed Application inactive. It
// never holds the removal: GitHub's trouble is logged.
func (r *ApplicationReconciler) retireDeployment(ctx context.Context, app *plattrv1.Application) {
	d := app.Status.GitHubDeployment
	if r.GitHub == nil || d == nil {
		return
	}
	r.recorded.Delete(d.ID)
	ctx, cancel := context.WithTimeout(ctx, gitHubTimeout)
	defer cancel()
	if err := r.GitHub.SetState(ctx, d.Repository, d.ID, ghdeploy.StateInactive, ""); err != nil {
		log.FromContext(ctx).Error(err, "cannot mark the GitHub deployment of the removed application inactive", "deployment", d.ID)
	}
}

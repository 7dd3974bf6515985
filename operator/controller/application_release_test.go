package controller_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plattr/plattr/internal/testenv"
	"github.com/plattr/plattr/operator"
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
	"github.com/plattr/plattr/operator/controller"
	"github.com/plattr/plattr/operator/services/postgres"
)

const image3 = "ghcr.io/acme/shop@sha256:3333333333333333333333333333333333333333333333333333333333333333"

// The release phase: the command runs once per image, with the app's
// database, before the image's pods roll out; a failure keeps the previous
// pods serving and says why, without a credential.
func TestApplication_ReleasePhase(t *testing.T) {
	c := testenv.StartCluster(t)
	c.StartWorkloads(t)
	pg := testenv.StartPostgres(t)
	adminURL := leastPrivilegeAdmin(t, pg, "admin-s3cret-pw")
	ns := envNamespace(t, c)
	op := startOperator(t, c, ns, operator.Config{DBAdminURL: adminURL, BaseDomain: "apps.example.com"})
	ctx := context.Background()

	const apiToken = "sk_live_0123456789abcdef" // the app's own secret, in a Secret a person made
	require.NoError(t, c.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "test-rel-api", Namespace: ns},
		Data: map[string][]byte{"token": []byte(apiToken)}}))
	app := newApp(ns, "test-rel", func(a *plattrv1.Application) {
		a.Spec.Release = &plattrv1.ReleaseSpec{Command: testenv.SQLCommand(t, "CREATE TABLE widgets (id int)"),
			Timeout: &metav1.Duration{Duration: 2 * time.Minute}}
		a.Spec.SecretEnv = []plattrv1.SecretEnvVar{{Name: "API_TOKEN", SecretName: "test-rel-api", Key: "token"}}
	})
	require.NoError(t, c.Client.Create(ctx, app))
	t.Cleanup(func() { deleteAndWait(t, c, app) })

	// The first release: Ready only once the command ran, and the table it made is there.
	got := waitCondition(t, c, app, plattrv1.ConditionReady, metav1.ConditionTrue, controller.ReasonReady)
	assert.Equal(t, &plattrv1.ReleaseStatus{Image: image1, Job: plattrv1.ReleaseJobName("test-rel", image1), Phase: plattrv1.ReleasePhaseSucceeded,
		Succeeded: []string{image1}}, got.Status.Release)
	job1 := releaseJob(t, c, ns, image1)
	require.NotNil(t, job1.Status.CompletionTime)
	var dep appsv1.Deployment
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "test-rel"}, &dep))
	assert.False(t, dep.CreationTimestamp.Before(job1.Status.CompletionTime), "the Deployment was made after the release command succeeded")
	secret := secretData(t, c, ns, "test-rel-postgres")
	assert.True(t, testenv.QueryRow[bool](t, string(secret[postgres.KeyURL]), "SELECT to_regclass('widgets') IS NOT NULL"), "the command ran against the app's database")
	ctr := job1.Spec.Template.Spec.Containers[0]
	assert.Equal(t, image1, ctr.Image)
	assert.Equal(t, "test-rel-postgres", ctr.EnvFrom[0].SecretRef.Name, "the app's environment, its database Secret included")
	assert.NotContains(t, job1.Spec.Template.Labels, plattrv1.LabelApp, "the app's Service must not select the release pod")

	// A failing command for a new image: the previous pods keep serving, and the reason shows without the password.
	setSpec(t, c, app, func(s *plattrv1.ApplicationSpec) { s.Image = image2 })
	got = waitCondition(t, c, app, plattrv1.ConditionReleaseReady, metav1.ConditionFalse, controller.ReasonReleaseFailed)
	msg := condition(got, plattrv1.ConditionReleaseReady).Message
	assert.Contains(t, msg, "exit code 1")
	assert.Contains(t, msg, `relation "widgets" already exists`, "the output's last lines")
	assert.Contains(t, msg, "connecting to [redacted]", "the URL the tool printed, without its password")
	assert.Contains(t, msg, "API_TOKEN=[redacted]", "the app's own secret, from a Secret the Job reads")
	assert.NotContains(t, msg, string(secret[postgres.KeyPassword]))
	assert.NotContains(t, msg, apiToken)
	assert.Contains(t, msg, "to run it again, delete Job "+plattrv1.ReleaseJobName("test-rel", image2))
	assert.Equal(t, metav1.ConditionFalse, condition(got, plattrv1.ConditionReady).Status)
	assert.Equal(t, metav1.ConditionTrue, condition(got, plattrv1.ConditionStalled).Status, "a person must act: Argo CD shows Degraded")
	assert.Equal(t, controller.ReasonReleasePending, condition(got, plattrv1.ConditionWorkloadReady).Reason)
	require.NoError(t, c.Client.Get(ctx, client.ObjectKeyFromObject(&dep), &dep))
	assert.Equal(t, image1, dep.Spec.Template.Spec.Containers[0].Image, "the previous release keeps serving")
	assert.Equal(t, int32(1), dep.Status.AvailableReplicas)

	// The next image runs its command again, and rolls out.
	setSpec(t, c, app, func(s *plattrv1.ApplicationSpec) {
		s.Image = image3
		s.Release.Command = testenv.SQLCommand(t, "CREATE TABLE gadgets (id int)")
	})
	got = waitReadyOn(t, c, app, image3)
	assert.Equal(t, image3, got.Status.Release.Image)
	assert.True(t, testenv.QueryRow[bool](t, string(secret[postgres.KeyURL]), "SELECT to_regclass('gadgets') IS NOT NULL"))
	job3 := releaseJob(t, c, ns, image3)

	// The same image does not run it again: a new generation (replicas), the Job deleted by hand.
	setSpec(t, c, app, func(s *plattrv1.ApplicationSpec) { s.Replicas = ptr.To[int32](2) })
	testenv.Eventually(t, 60*time.Second, "two replicas on image3", func() (bool, error) {
		err := c.Client.Get(ctx, client.ObjectKeyFromObject(&dep), &dep)
		return err == nil && dep.Status.AvailableReplicas == 2, err
	})
	require.NoError(t, c.Client.Delete(ctx, job3, client.PropagationPolicy(metav1.DeletePropagationBackground)))
	setSpec(t, c, app, func(s *plattrv1.ApplicationSpec) { s.Replicas = ptr.To[int32](1) })
	got = waitReadyOn(t, c, app, image3)
	var jobs batchv1.JobList
	require.NoError(t, c.Client.List(ctx, &jobs, client.InNamespace(ns)))
	names := map[string]bool{}
	for _, j := range jobs.Items {
		names[j.Name] = j.DeletionTimestamp == nil
	}
	assert.Equal(t, map[string]bool{job1.Name: true, plattrv1.ReleaseJobName("test-rel", image2): true}, names,
		"one Job per image; image3's, deleted after it succeeded, is not run again")
	assert.Equal(t, plattrv1.ReleasePhaseSucceeded, got.Status.Release.Phase)

	// A rollback to image1, whose Job is gone: its command succeeded once, and does not run again.
	assert.Equal(t, []string{image3, image1}, got.Status.Release.Succeeded, "the images whose command succeeded, newest first")
	require.NoError(t, c.Client.Delete(ctx, job1, client.PropagationPolicy(metav1.DeletePropagationBackground)))
	setSpec(t, c, app, func(s *plattrv1.ApplicationSpec) { s.Image = image1 })
	got = waitReadyOn(t, c, app, image1)
	err := c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: job1.Name}, &batchv1.Job{})
	assert.True(t, client.IgnoreNotFound(err) == nil && err != nil, "image1's command did not run again")

	// Without a release phase the condition goes.
	setSpec(t, c, app, func(s *plattrv1.ApplicationSpec) { s.Release = nil })
	testenv.Eventually(t, 30*time.Second, "ReleaseReady to go", func() (bool, error) {
		err := c.Client.Get(ctx, client.ObjectKeyFromObject(app), got)
		return err == nil && condition(got, plattrv1.ConditionReleaseReady) == nil && got.Status.Release == nil, err
	})
	scanForSecrets(t, c, ns, op, []string{string(secret[postgres.KeyPassword]), "admin-s3cret-pw", apiToken})
}

// A release Job of the same name made by someone else is not taken over.
func TestApplication_ReleaseJobConflict(t *testing.T) {
	c := testenv.StartCluster(t)
	pg := testenv.StartPostgres(t)
	ns := envNamespace(t, c)
	startOperator(t, c, ns, operator.Config{DBAdminURL: leastPrivilegeAdmin(t, pg, "admin-pw-2"), BaseDomain: "apps.example.com"})
	ctx := context.Background()
	foreign := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: plattrv1.ReleaseJobName("test-taken", image1), Namespace: ns},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "x", Image: image1}}}}},
	}
	require.NoError(t, c.Client.Create(ctx, foreign))
	app := newApp(ns, "test-taken", func(a *plattrv1.Application) {
		a.Spec.Release = &plattrv1.ReleaseSpec{Command: []string{"true"}}
	})
	require.NoError(t, c.Client.Create(ctx, app))
	t.Cleanup(func() { deleteAndWait(t, c, app) })
	got := waitCondition(t, c, app, plattrv1.ConditionReleaseReady, metav1.ConditionFalse, controller.ReasonReleaseConflict)
	assert.Contains(t, condition(got, plattrv1.ConditionReleaseReady).Message, "is not this Application's")
	var dep appsv1.Deployment
	err := c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "test-taken"}, &dep)
	assert.True(t, client.IgnoreNotFound(err) == nil && err != nil, "no rollout")
}

func releaseJob(t *testing.T, c *testenv.Cluster, ns, image string) *batchv1.Job {
	t.Helper()
	var j batchv1.Job
	require.NoError(t, c.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: plattrv1.ReleaseJobName("test-rel", image)}, &j))
	return &j
}

func setSpec(t *testing.T, c *testenv.Cluster, app *plattrv1.Application, mutate func(*plattrv1.ApplicationSpec)) {
	t.Helper()
	ctx := context.Background()
	var cur plattrv1.Application
	require.NoError(t, c.Client.Get(ctx, client.ObjectKeyFromObject(app), &cur))
	patch := client.MergeFrom(cur.DeepCopy())
	mutate(&cur.Spec)
	require.NoError(t, c.Client.Patch(ctx, &cur, patch))
}

// waitReadyOn waits until app is Ready at its generation with its Deployment on image.
func waitReadyOn(t *testing.T, c *testenv.Cluster, app *plattrv1.Application, image string) *plattrv1.Application {
	t.Helper()
	ctx := context.Background()
	got := &plattrv1.Application{}
	testenv.Eventually(t, 60*time.Second, "Ready on "+image, func() (bool, error) {
		if err := c.Client.Get(ctx, client.ObjectKeyFromObject(app), got); err != nil {
			return false, err
		}
		var dep appsv1.Deployment
		if err := c.Client.Get(ctx, client.ObjectKeyFromObject(app), &dep); err != nil {
			return false, err
		}
		ready := condition(got, plattrv1.ConditionReady)
		var msgs []string
		for _, c := range got.Status.Conditions {
			msgs = append(msgs, c.Type+"="+string(c.Status)+" "+c.Message)
		}
		return ready != nil && ready.Status == metav1.ConditionTrue && got.Status.ObservedGeneration == got.Generation &&
			dep.Spec.Template.Spec.Containers[0].Image == image, errString(strings.Join(msgs, "; "))
	})
	return got
}

// One release command at a time: a new image while the previous image's
// command runs waits for it to end.
func TestApplication_ReleaseOneAtATime(t *testing.T) {
	c := testenv.StartCluster(t)
	c.StartWorkloads(t)
	pg := testenv.StartPostgres(t)
	ns := envNamespace(t, c)
	startOperator(t, c, ns, operator.Config{DBAdminURL: leastPrivilegeAdmin(t, pg, "admin-pw-3"), BaseDomain: "apps.example.com"})
	ctx := context.Background()
	app := newApp(ns, "test-slow", func(a *plattrv1.Application) {
		a.Spec.Release = &plattrv1.ReleaseSpec{Command: testenv.SQLCommand(t, "SELECT pg_sleep(4)")}
	})
	require.NoError(t, c.Client.Create(ctx, app))
	t.Cleanup(func() { deleteAndWait(t, c, app) })
	first := plattrv1.ReleaseJobName("test-slow", image1)
	testenv.Eventually(t, 60*time.Second, "the first release command to run", func() (bool, error) {
		err := c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: first}, &batchv1.Job{})
		return err == nil, client.IgnoreNotFound(err)
	})
	setSpec(t, c, app, func(s *plattrv1.ApplicationSpec) { s.Image = image2 })
	got := waitCondition(t, c, app, plattrv1.ConditionReleaseReady, metav1.ConditionFalse, controller.ReasonReleaseWaiting)
	assert.Contains(t, condition(got, plattrv1.ConditionReleaseReady).Message, "(Job "+first+") to end")
	waitReadyOn(t, c, app, image2)
	var j1, j2 batchv1.Job
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: first}, &j1))
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: plattrv1.ReleaseJobName("test-slow", image2)}, &j2))
	require.NotNil(t, j1.Status.CompletionTime)
	assert.False(t, j2.CreationTimestamp.Before(j1.Status.CompletionTime), "the second command started after the first ended")
}

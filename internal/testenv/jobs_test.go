package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func TestTailLog(t *testing.T) {
	var lines []string
	for i := range 100 {
		lines = append(lines, fmt.Sprintf("line %d", i))
	}
	got := tailLog(strings.Join(lines, "\n") + "\n")
	assert.True(t, strings.HasPrefix(got, "line 20\n"), "the last 80 lines: %q", got[:20])
	assert.True(t, strings.HasSuffix(got, "line 99"))
	long := strings.Repeat("x", 5000)
	assert.Len(t, tailLog(long), terminationLogBytes, "at most 2 KiB, the kubelet's limit")
}

func TestJobPodStages(t *testing.T) {
	c := StartCluster(t)
	in, err := os.ReadFile(filepath.Join(c.Assets, "kwok-stages.yaml"))
	require.NoError(t, err)
	out, err := jobPodStages(in)
	require.NoError(t, err)
	s := string(out)
	assert.NotContains(t, s, "name: pod-complete", "Job pods are completed by their real command")
	assert.Contains(t, s, "name: pod-ready")
	assert.Contains(t, s, "NotIn", "pod-ready leaves Job pods alone")
	assert.Contains(t, s, "name: node-initialize")
}

// A Job's pod runs its command here with the kubelet's environment, and ends
// as the kubelet ends it: the Job controller sees it Complete or Failed.
func TestCluster_JobPodsRunTheirCommand(t *testing.T) {
	c := StartCluster(t)
	c.StartWorkloads(t)
	ctx := context.Background()
	ns := c.Namespace(t, "")
	dir := t.TempDir()
	require.NoError(t, c.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: ns},
		Data: map[string][]byte{"TOKEN": []byte("s3cret-token")}}))
	job := func(name, script string) *batchv1.Job {
		return &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: batchv1.JobSpec{BackoffLimit: ptr.To[int32](0), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "run", Image: image, Command: []string{"sh", "-c", script},
					Env:                      []corev1.EnvVar{{Name: "OUT", Value: dir + "/$(TOKEN).out"}},
					EnvFrom:                  []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}}}},
					TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError}},
			}}},
		}
	}
	require.NoError(t, c.Client.Create(ctx, job("ok", `echo "$TOKEN" > "$OUT"`)))
	require.NoError(t, c.Client.Create(ctx, job("fails", `echo starting; echo "no table widgets" >&2; exit 3`)))
	ended := func(name string) batchv1.JobConditionType {
		var j batchv1.Job
		Eventually(t, 60*time.Second, "Job "+name+" to end", func() (bool, error) {
			if err := c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &j); err != nil {
				return false, err
			}
			for _, cond := range j.Status.Conditions {
				if (cond.Type == batchv1.JobComplete || cond.Type == batchv1.JobFailed) && cond.Status == corev1.ConditionTrue {
					return true, nil
				}
			}
			return false, fmt.Errorf("status %+v", j.Status)
		})
		for _, cond := range j.Status.Conditions {
			if cond.Status == corev1.ConditionTrue && (cond.Type == batchv1.JobComplete || cond.Type == batchv1.JobFailed) {
				return cond.Type
			}
		}
		return ""
	}
	assert.Equal(t, batchv1.JobComplete, ended("ok"))
	got, err := os.ReadFile(filepath.Join(dir, "s3cret-token.out"))
	require.NoError(t, err, "the command ran here, $(TOKEN) expanded from envFrom")
	assert.Equal(t, "s3cret-token\n", string(got))

	assert.Equal(t, batchv1.JobFailed, ended("fails"))
	var pods corev1.PodList
	require.NoError(t, c.Client.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{batchv1.JobNameLabel: "fails"}))
	require.Len(t, pods.Items, 1)
	term := pods.Items[0].Status.ContainerStatuses[0].State.Terminated
	require.NotNil(t, term)
	assert.Equal(t, int32(3), term.ExitCode)
	assert.Equal(t, "starting\nno table widgets", term.Message, "FallbackToLogsOnError: the output's end")
}

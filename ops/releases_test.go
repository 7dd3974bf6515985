package ops

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plattr/plattr/generator"
)

// How a release got there is read from its commit: a render's trailers, a
// merged promotion or rollback, an image that came back (a revert), or a
// person's edit.
func TestReleases_Kinds(t *testing.T) {
	tree := envRepo(t)
	content := func(digest string) []byte {
		r, err := release(t, "hello", digest, "staging", 0, generator.Source{Repo: "acme/hello", Commit: strings.Repeat("c", 40)}).Plan(tree)
		require.NoError(t, err)
		return r.Files["envs/staging/hello/release.yaml"]
	}
	a, b := content(digestA), content(digestB)
	at := func(h int) time.Time { return time.Date(2026, 11, 1, h, 0, 0, 0, time.UTC) }
	rs := Releases("hello", "staging", []Version{
		{Commit: "5", When: at(5), Content: a, Author: "dave", Message: "Revert \"hello: deploy\"\n\nThis reverts commit 4."},
		{Commit: "4", When: at(4), Content: b, Author: "carol", Message: "Merge pull request #7 from acme/plattr/promote-staging-hello\n\nPromote"},
		{Commit: "3", When: at(3), Content: a, Author: "bob", Message: "Merge pull request #6 from acme/plattr/rollback-staging-hello\n\nRoll back"},
		{Commit: "2", When: at(2), Content: b, Author: "plattr", Message: "hello: deploy\n\nPlattr-App: hello\nPlattr-Image: x\nPlattr-Source-Time: 2026-11-01T01:30:00Z\nPlattr-CI-Run: https://ci/2\n"},
		{Commit: "1", When: at(1), Content: a, Author: "erin", Message: "edit by hand | <b>"},
	})
	require.Len(t, rs, 5)
	var kinds []string
	for _, r := range rs {
		kinds = append(kinds, r.Kind)
	}
	assert.Equal(t, []string{KindRollback, KindRollback, KindRollback, KindRender, KindEdit}, kinds,
		"a revert to a; b again by a promotion is a rollback too (an image run before); the merged rollback")
	assert.Equal(t, 6, rs[2].PR)
	assert.Equal(t, "https://ci/2", rs[3].CIRun)
	assert.Equal(t, time.Date(2026, 11, 1, 1, 30, 0, 0, time.UTC), rs[3].SourceTime)
	assert.Equal(t, "r.example.com/hello@"+digestB, rs[3].Image)

	FillSourceTimes(rs)
	assert.Equal(t, rs[3].SourceTime, rs[1].SourceTime, "b's render time goes with b")
	assert.True(t, rs[0].SourceTime.IsZero(), "a was never rendered in what was read")

	// The same image again right after (other settings) is no rollback.
	same := Releases("hello", "staging", []Version{
		{Commit: "2", When: at(2), Content: append([]byte("# edited\n"), a...), Message: "edit"},
		{Commit: "1", When: at(1), Content: a, Message: "edit"},
	})
	assert.Equal(t, KindEdit, same[0].Kind)

	md := Matrix{Envs: []string{"staging"}, Current: []Release{{App: "hello", Env: "staging", Image: "i", By: "eve | <script>", Kind: KindEdit, Commit: "1234567890"}}}.Markdown()
	assert.Contains(t, md, "edit 12345678 by eve \\| &lt;script> |", "a name cannot break the table or add markup")
}

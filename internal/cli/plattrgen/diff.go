package plattrgen

import (
	"strings"

	"github.com/pmezard/go-difflib/difflib"

	"github.com/plattr/plattr/gitops"
)

// unifiedDiff shows what a change does, file by file, as `git diff` would.
func unifiedDiff(res gitops.Result) string {
	var b strings.Builder
	for _, p := range res.Changed {
		from, to := "a/"+p, "b/"+p
		if res.Old[p] == nil {
			from = "/dev/null"
		}
		if res.New[p] == nil {
			to = "/dev/null"
		}
		text, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A: difflib.SplitLines(string(res.Old[p])), B: difflib.SplitLines(string(res.New[p])),
			FromFile: from, ToFile: to, Context: 3,
		})
		b.WriteString(text)
	}
	return b.String()
}

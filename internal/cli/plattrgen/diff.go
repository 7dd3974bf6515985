package plattrgen

import (
	"fmt"
	"strings"

	"github.com/pmezard/go-difflib/difflib"

	"github.com/plattr/plattr/gitops"
)

// unifiedDiff shows what a change does, file by file, as `git diff` prints it,
// so that `git apply` takes it: a diff --git header per file, new and deleted
// file modes, hunk ranges as git writes them (an empty side is "0,0") and
// "\ No newline at end of file" where a side ends without one.
func unifiedDiff(res gitops.Result) string {
	var b strings.Builder
	for _, p := range res.Changed {
		old, new := res.Old[p], res.New[p]
		fmt.Fprintf(&b, "diff --git a/%s b/%s\n", p, p)
		from, to := "a/"+p, "b/"+p
		switch {
		case old == nil:
			b.WriteString("new file mode 100644\n")
			from = "/dev/null"
		case new == nil:
			b.WriteString("deleted file mode 100644\n")
			to = "/dev/null"
		}
		fmt.Fprintf(&b, "--- %s\n+++ %s\n", from, to)
		a, c := splitLines(old), splitLines(new)
		m := difflib.NewMatcher(a, c)
		for _, group := range m.GetGroupedOpCodes(3) {
			first, last := group[0], group[len(group)-1]
			fmt.Fprintf(&b, "@@ -%s +%s @@\n", hunkRange(first.I1, last.I2), hunkRange(first.J1, last.J2))
			for _, op := range group {
				switch op.Tag {
				case 'e':
					writeLines(&b, " ", a[op.I1:op.I2])
				case 'd':
					writeLines(&b, "-", a[op.I1:op.I2])
				case 'r':
					writeLines(&b, "-", a[op.I1:op.I2])
					writeLines(&b, "+", c[op.J1:op.J2])
				case 'i':
					writeLines(&b, "+", c[op.J1:op.J2])
				}
			}
		}
	}
	return b.String()
}

// splitLines splits content after each newline; a last line without one stays
// without one (difflib.SplitLines would add it, hiding the difference).
func splitLines(content []byte) []string {
	if len(content) == 0 {
		return nil
	}
	lines := strings.SplitAfter(string(content), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// hunkRange is a side of a hunk header as git writes it: "start,length", or
// "start" for one line; an empty side starts at the line before (0 in an
// empty file).
func hunkRange(start, stop int) string {
	length := stop - start
	switch length {
	case 1:
		return fmt.Sprint(start + 1)
	case 0:
		return fmt.Sprintf("%d,0", start)
	}
	return fmt.Sprintf("%d,%d", start+1, length)
}

func writeLines(b *strings.Builder, prefix string, lines []string) {
	for _, l := range lines {
		b.WriteString(prefix)
		b.WriteString(l)
		if !strings.HasSuffix(l, "\n") {
			b.WriteString("\n\\ No newline at end of file\n")
		}
	}
}

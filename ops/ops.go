package ops

import (
	"github.com/plattr/plattr/envfiles"
)

// Plan is what an operation writes: the files (nil content deletes) and the
// commit message. No files: nothing to do.
type Plan struct {
	Files   envfiles.Files
	Message Message
}

func (p Plan) plan() Plan { return p }

// Planned is every operation's plan: a Plan with what the command reports.
type Planned interface{ plan() Plan }

// Change adapts an operation's planning for gitops' Apply and Propose (their
// Change): it plans on each tree it is given (Apply plans again on the new head
// after a rejected push) and keeps the last plan in *last, for the report.
func Change[P Planned](plan func(envfiles.Tree) (P, error), last *P) func(envfiles.Tree) (envfiles.Files, string, error) {
	return func(tree envfiles.Tree) (envfiles.Files, string, error) {
		p, err := plan(tree)
		if err != nil {
			return nil, "", err
		}
		*last = p
		base := p.plan()
		return base.Files, base.Message.String(), nil
	}
}

// InputError is an input that cannot work with this env repo (a flag's value
// it contradicts): the CLI's exit code 2, as other usage mistakes.
type InputError struct{ Err error }

func (e InputError) Error() string { return e.Err.Error() }
func (e InputError) Unwrap() error { return e.Err }

// Proposal is the pull request an operation opens: its branch (pushed with the
// plan's commit), title, body and labels.
type Proposal struct {
	Branch, Title, Body string
	Labels              []string
}

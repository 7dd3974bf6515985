// Package ops holds what each plattr-gen command writes into the env repo: one
// constructor per command (Init, Render, Promote, Rollback, RemovePreview,
// GCPreviews), each planning on a tree the files to write and the commit
// message, and for the commands that open pull requests the branch, title, body
// and labels. Every message, trailer and branch name is made here.
//
// The package is pure: no git, no network. The CLI applies a plan with gitops
// (Repo.Apply for a commit to the branch, Repo.Propose for a pull request's
// branch) and reports; tests and the benchmark plan the same way, on an
// in-memory tree or a real repository.
package ops

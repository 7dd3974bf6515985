package controller

import (
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

// validate refuses a spec that would reach across the tenant boundary
// (plattrv1.CheckTenancy) or a release phase it would not run
// (plattrv1.CheckRelease): the rules plattr-gen applies too.
func validate(app *plattrv1.Application) error {
	if err := plattrv1.CheckTenancy(app.Name, &app.Spec); err != nil {
		return err
	}
	return plattrv1.CheckRelease(app.Spec.Release)
}

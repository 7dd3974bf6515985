package controller

import (
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

// validate refuses a spec that would reach across the tenant boundary
// (plattrv1.CheckTenancy), a release phase it would not run
// (plattrv1.CheckRelease) or a rotation schedule it would not keep
// (plattrv1.CheckCredentials): the rules plattr-gen applies too.
func validate(app *plattrv1.Application) error {
	if err := plattrv1.CheckTenancy(app.Name, &app.Spec); err != nil {
		return err
	}
	if err := plattrv1.CheckRelease(app.Spec.Release); err != nil {
		return err
	}
	return plattrv1.CheckCredentials(app.Spec.Credentials)
}

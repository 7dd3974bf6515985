package controller

import (
	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

// validate refuses a spec that would reach across the tenant boundary
// (plattrv1.CheckTenancy, the rule plattr-gen applies too).
func validate(app *plattrv1.Application) error {
	return plattrv1.CheckTenancy(app.Name, &app.Spec)
}

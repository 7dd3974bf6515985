package controller_test

import "sigs.k8s.io/controller-runtime/pkg/config"

// ctrlConfig lets several managers run in one test process (each test starts its
// own): controller names would otherwise have to be unique per process.
func ctrlConfig() config.Controller {
	skip := true
	return config.Controller{SkipNameValidation: &skip}
}

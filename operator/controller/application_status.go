package controller

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

// Condition reasons (CamelCase, stable).
const (
	ReasonReady              = "Ready"
	ReasonProvisioned        = "Provisioned"
	ReasonProvisioningFailed = "ProvisioningFailed"
	ReasonNotConfigured      = "NotConfigured"
	ReasonInvalid            = "Invalid"
	ReasonSecretConflict     = "SecretConflict"
	ReasonAvailable          = "Available"
	ReasonProgressing        = "Progressing"
	ReasonScaledToZero       = "ScaledToZero"
	ReasonApplyFailed        = "ApplyFailed"
	ReasonNotReady           = "NotReady"
	ReasonDeleting           = "Deleting"
	ReasonDeleteFailed       = "DeleteFailed"
)

// status is the Application's status being built by one reconcile.
type status struct {
	plattrv1.ApplicationStatus
	stalled bool
	ready   bool
	// wake is when the Application must be reconciled again at the latest
	// (a scheduled credential rotation); zero: no such time.
	wake time.Time
}

// wakeAt asks for a reconcile at t at the latest.
func (s *status) wakeAt(t time.Time) {
	if s.wake.IsZero() || t.Before(s.wake) {
		s.wake = t
	}
}

func newStatus(app *plattrv1.Application) *status {
	return &status{ApplicationStatus: *app.Status.DeepCopy()}
}

func (s *status) set(app *plattrv1.Application, typ string, ok bool, reason, msg string) {
	st := metav1.ConditionFalse
	if ok {
		st = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&s.Conditions, metav1.Condition{Type: typ, Status: st, Reason: reason, Message: msg, ObservedGeneration: app.Generation})
}

func (s *status) condition(typ string) *metav1.Condition {
	return meta.FindStatusCondition(s.Conditions, typ)
}

func (s *status) remove(typ string) { meta.RemoveStatusCondition(&s.Conditions, typ) }

// summarize sets Ready from the part conditions, and Stalled.
func (s *status) summarize(app *plattrv1.Application) {
	s.ObservedGeneration = app.Generation
	var failing []string
	for _, c := range s.Conditions {
		if c.Type == plattrv1.ConditionReady || c.Type == plattrv1.ConditionStalled || slices.Contains(plattrv1.Reports(), c.Type) {
			continue
		}
		if c.Status != metav1.ConditionTrue {
			failing = append(failing, c.Type)
		}
	}
	sort.Strings(failing)
	s.ready = len(failing) == 0 && meta.IsStatusConditionTrue(s.Conditions, plattrv1.ConditionWorkloadReady)
	if s.ready {
		s.set(app, plattrv1.ConditionReady, true, ReasonReady, "all parts are ready")
	} else {
		msg := "waiting for the workload"
		if len(failing) > 0 {
			msg = "not ready: " + strings.Join(failing, ", ")
		}
		s.set(app, plattrv1.ConditionReady, false, ReasonNotReady, msg)
	}
	if s.stalled {
		s.set(app, plattrv1.ConditionStalled, true, ReasonNotReady, "a person must act: see the conditions above")
	} else {
		s.remove(plattrv1.ConditionStalled)
	}
}

// invalid reports a spec the operator refuses as a whole: nothing else is done
// until it changes.
func (s *status) invalid(app *plattrv1.Application, msg string) {
	s.ObservedGeneration = app.Generation
	s.stalled = true
	s.set(app, plattrv1.ConditionReady, false, ReasonInvalid, msg)
	s.set(app, plattrv1.ConditionStalled, true, ReasonInvalid, "a person must change the Application: see Ready")
}

// patchStatus writes the status once, and only when it changed.
func (r *ApplicationReconciler) patchStatus(ctx context.Context, app *plattrv1.Application, s *status) error {
	if equality.Semantic.DeepEqual(app.Status, s.ApplicationStatus) {
		return nil
	}
	patch := client.MergeFrom(app.DeepCopy())
	app.Status = s.ApplicationStatus
	if err := r.Status().Patch(ctx, app, patch); err != nil {
		return fmt.Errorf("patch status: %w", err)
	}
	return nil
}

// Package v1alpha1 holds the Plattr Application API (group plattr.dev).
//
// It is a leaf package: it imports apimachinery only, so that the generator, the
// operator and the CLIs can share the types without pulling in a client. It must
// not contain behaviour beyond defaulting helpers and constants.
//
// +kubebuilder:object:generate=true
// +groupName=plattr.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of the Plattr API.
	GroupVersion = schema.GroupVersion{Group: "plattr.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the API types with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the API types to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &Application{}, &ApplicationList{})
	metav1AddToGroupVersion(s)
	return nil
}

package testenv

import (
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func clientKey(namespace, name string) client.ObjectKey {
	return client.ObjectKey{Namespace: namespace, Name: name}
}

func isAlreadyExists(err error) bool { return apierrors.IsAlreadyExists(err) }

func clientInNamespace(ns string) client.InNamespace { return client.InNamespace(ns) }

package generator

import (
	"fmt"
	"math"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// maxQuantity bounds a resource quantity: beyond it a value no longer fits the
// integers Kubernetes stores it in, and is silently changed (9999Ei becomes
// 9223372036854775807).
var maxQuantity = resource.NewQuantity(math.MaxInt64/1000, resource.DecimalSI)

// checkResources refuses requests and limits the Deployment the operator makes
// from them would be refused for (negative; a request above its limit), and
// quantities too large to be kept as written. The error starts with the field
// below spec.resources (".requests.cpu: …").
func checkResources(r *corev1.ResourceRequirements) error {
	if r == nil {
		return nil
	}
	for _, l := range []struct {
		name string
		list corev1.ResourceList
	}{{"requests", r.Requests}, {"limits", r.Limits}} {
		for res, q := range l.list {
			switch {
			case q.Sign() < 0:
				return fmt.Errorf(".%s.%s: %s is negative", l.name, res, q.String())
			case q.Cmp(*maxQuantity) > 0:
				return fmt.Errorf(".%s.%s: %s is too large (at most %s)", l.name, res, q.String(), maxQuantity.String())
			}
		}
	}
	for res, req := range r.Requests {
		if lim, ok := r.Limits[res]; ok && req.Cmp(lim) > 0 {
			return fmt.Errorf(".requests.%s: %s is more than its limit %s (the API server refuses such a pod)", res, req.String(), lim.String())
		}
	}
	return nil
}

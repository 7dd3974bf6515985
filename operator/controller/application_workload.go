package controller

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

// Labels and annotations on the objects Plattr makes.
const (
	LabelManagedBy     = "app.kubernetes.io/managed-by"
	ManagedBy          = "plattr"
	labelName          = "app.kubernetes.io/name"
	annotationDesired  = "plattr.dev/desired-hash"
	annotationSecrets  = "plattr.dev/secrets-hash"
	containerName      = "app"
	portName           = "http"
	servicePort        = 80
	annotationIssuer   = "cert-manager.io/cluster-issuer"
	defaultIngressPath = "/"
)

// Workload settings that come from the operator's configuration.
type Workload struct {
	// IngressClass is the ingressClassName of Ingresses ("" leaves the cluster default).
	IngressClass string
	// ClusterIssuer is cert-manager's ClusterIssuer for TLS ("" disables TLS).
	ClusterIssuer string
	// SecretStore is the ClusterSecretStore of the apps' own secrets
	// (externalSecrets; default DefaultSecretStore).
	SecretStore string
}

// Desired is everything the workload step applies for one Application.
type Desired struct {
	ServiceAccount *corev1.ServiceAccount
	Deployment     *appsv1.Deployment
	Service        *corev1.Service
	Ingress        *networkingv1.Ingress         // nil when disabled
	PDB            *policyv1.PodDisruptionBudget // nil with fewer than 2 replicas
}

func labels(app *plattrv1.Application) map[string]string {
	return map[string]string{plattrv1.LabelApp: app.Name, labelName: app.Name, LabelManagedBy: ManagedBy}
}

func selector(app *plattrv1.Application) map[string]string {
	return map[string]string{plattrv1.LabelApp: app.Name}
}

func objectMeta(app *plattrv1.Application, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: app.Namespace, Labels: labels(app)}
}

func replicas(app *plattrv1.Application) int32 {
	if app.Spec.Replicas == nil {
		return 1
	}
	return *app.Spec.Replicas
}

func port(app *plattrv1.Application) int32 {
	if app.Spec.Port == 0 {
		return plattrv1.DefaultPort
	}
	return app.Spec.Port
}

func ingressEnabled(app *plattrv1.Application) bool {
	return app.Spec.Ingress == nil || app.Spec.Ingress.Enabled == nil || *app.Spec.Ingress.Enabled
}

// DesiredWorkload builds the workload of app, served at host, whose containers read
// the Secrets named in secrets (sorted by the caller's order of services); secretsHash
// changes when their content does, so that pods restart with new credentials.
func DesiredWorkload(app *plattrv1.Application, host string, secrets []string, secretsHash string, w Workload) Desired {
	d := Desired{
		ServiceAccount: &corev1.ServiceAccount{
			TypeMeta:                     metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
			ObjectMeta:                   objectMeta(app, app.Name),
			AutomountServiceAccountToken: ptr.To(false),
		},
		Deployment: deployment(app, secrets, secretsHash),
		Service: &corev1.Service{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
			ObjectMeta: objectMeta(app, app.Name),
			Spec: corev1.ServiceSpec{
				Selector: selector(app),
				Ports:    []corev1.ServicePort{{Name: portName, Port: servicePort, TargetPort: intstr.FromString(portName), Protocol: corev1.ProtocolTCP}},
			},
		},
	}
	if ingressEnabled(app) && host != "" {
		d.Ingress = ingress(app, host, w)
	}
	if replicas(app) > 1 {
		d.PDB = &policyv1.PodDisruptionBudget{
			TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
			ObjectMeta: objectMeta(app, app.Name),
			Spec: policyv1.PodDisruptionBudgetSpec{
				MaxUnavailable: ptr.To(intstr.FromInt32(1)),
				Selector:       &metav1.LabelSelector{MatchLabels: selector(app)},
			},
		}
	}
	for _, o := range d.objects() {
		setDesiredHash(o)
	}
	return d
}

func (d Desired) objects() []client.Object {
	out := []client.Object{d.ServiceAccount, d.Deployment, d.Service}
	if d.Ingress != nil {
		out = append(out, d.Ingress)
	}
	if d.PDB != nil {
		out = append(out, d.PDB)
	}
	return out
}

// container is the app's container as both its pods and its release Job run
// it: image, environment (plain, the Secrets' and the services'), resources
// and security context; deployment adds the port, arguments and probes.
func container(app *plattrv1.Application, name string, secrets []string) corev1.Container {
	c := corev1.Container{
		Name:  name,
		Image: app.Spec.Image,
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}
	// PORT tells the app where to listen, as `plattr dev` does; an env entry of
	// the app's own named PORT wins.
	ownPort := false
	for _, e := range app.Spec.Env {
		ownPort = ownPort || e.Name == "PORT"
	}
	if !ownPort {
		c.Env = append(c.Env, corev1.EnvVar{Name: "PORT", Value: strconv.Itoa(int(port(app)))})
	}
	for _, e := range app.Spec.Env {
		c.Env = append(c.Env, corev1.EnvVar{Name: e.Name, Value: e.Value})
	}
	for _, e := range app.Spec.SecretEnv {
		c.Env = append(c.Env, corev1.EnvVar{Name: e.Name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: e.SecretName}, Key: e.Key}}})
	}
	// The app's own secrets: External Secrets Operator makes <app>-external.
	for _, e := range app.Spec.ExternalSecrets {
		c.Env = append(c.Env, corev1.EnvVar{Name: e.Name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: plattrv1.ExternalSecretName(app.Name)}, Key: e.Name}}})
	}
	for _, s := range secrets {
		c.EnvFrom = append(c.EnvFrom, corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: s}}})
	}
	if app.Spec.Resources != nil {
		c.Resources = *app.Spec.Resources.DeepCopy()
	}
	return c
}

// podSpec is the pod of the app's workload and of its release Job: its
// ServiceAccount, no API token, the runtime's default seccomp profile.
func podSpec(app *plattrv1.Application, c corev1.Container) corev1.PodSpec {
	return corev1.PodSpec{
		ServiceAccountName:           app.Name,
		AutomountServiceAccountToken: ptr.To(false),
		SecurityContext:              &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
		Containers:                   []corev1.Container{c},
	}
}

func deployment(app *plattrv1.Application, secrets []string, secretsHash string) *appsv1.Deployment {
	c := container(app, containerName, secrets)
	c.Ports = []corev1.ContainerPort{{Name: portName, ContainerPort: port(app), Protocol: corev1.ProtocolTCP}}
	c.Args = app.Spec.Args
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString(portName)}}}
	if hc := app.Spec.HealthCheck; hc != nil {
		path := hc.Path
		if path == "" {
			path = "/"
		}
		probe = &corev1.Probe{
			ProbeHandler:        corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString(portName)}},
			InitialDelaySeconds: hc.InitialDelaySeconds,
			PeriodSeconds:       hc.PeriodSeconds,
		}
	}
	c.ReadinessProbe = probe
	liveness := probe.DeepCopy()
	liveness.FailureThreshold = 6 // restart only after a long failure, not a slow start
	c.LivenessProbe = liveness

	podMeta := metav1.ObjectMeta{Labels: labels(app)}
	if secretsHash != "" {
		podMeta.Annotations = map[string]string{annotationSecrets: secretsHash}
	}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: objectMeta(app, app.Name),
		Spec: appsv1.DeploymentSpec{
			Replicas:             ptr.To(replicas(app)),
			Selector:             &metav1.LabelSelector{MatchLabels: selector(app)},
			RevisionHistoryLimit: ptr.To[int32](5),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: podMeta,
				Spec:       podSpec(app, c),
			},
		},
	}
}

func ingress(app *plattrv1.Application, host string, w Workload) *networkingv1.Ingress {
	ing := &networkingv1.Ingress{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
		ObjectMeta: objectMeta(app, app.Name),
		Spec: networkingv1.IngressSpec{
			Rules: []networkingv1.IngressRule{{
				Host: host,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
					Path:     defaultIngressPath,
					PathType: ptr.To(networkingv1.PathTypePrefix),
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
						Name: app.Name, Port: networkingv1.ServiceBackendPort{Name: portName},
					}},
				}}}},
			}},
		},
	}
	if w.IngressClass != "" {
		ing.Spec.IngressClassName = ptr.To(w.IngressClass)
	}
	if w.ClusterIssuer != "" {
		ing.Annotations = map[string]string{annotationIssuer: w.ClusterIssuer}
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{host}, SecretName: plattrv1.TLSSecretName(app.Name)}}
	}
	return ing
}

// setDesiredHash records a hash of the object as built in an annotation: an
// object whose annotation matches is up to date and is not applied again.
func setDesiredHash(o client.Object) {
	a := o.GetAnnotations()
	delete(a, annotationDesired)
	data, _ := json.Marshal(o)
	sum := sha256.Sum256(data)
	if a == nil {
		a = map[string]string{}
	}
	a[annotationDesired] = hex.EncodeToString(sum[:])[:16]
	o.SetAnnotations(a)
}

// SecretsHash is a hash of the Secrets' data, in name order.
func SecretsHash(data map[string]map[string][]byte) string {
	if len(data) == 0 {
		return ""
	}
	names := make([]string, 0, len(data))
	for n := range data {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		keys := make([]string, 0, len(data[n]))
		for k := range data[n] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		h.Write([]byte(n + "\x00"))
		for _, k := range keys {
			h.Write([]byte(k + "\x00"))
			h.Write(data[n][k])
			h.Write([]byte{0})
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

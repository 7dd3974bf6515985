package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Kind is the kind of the Plattr Application resource.
const Kind = "Application"

// DeletionPolicy says what happens to an application's backing-service data
// (databases, users, clients) when the Application is deleted.
// +kubebuilder:validation:Enum=Retain;Delete
type DeletionPolicy string

const (
	// DeletionPolicyRetain keeps databases, users and clients when the Application is deleted.
	DeletionPolicyRetain DeletionPolicy = "Retain"
	// DeletionPolicyDelete drops databases, users and clients when the Application is deleted.
	DeletionPolicyDelete DeletionPolicy = "Delete"
)

// ApplicationSpec is the desired state of an application in one environment.
type ApplicationSpec struct {
	// Image is the container image, pinned by digest (repository@sha256:...).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image"`

	// Port is the container port the application listens on.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +kubebuilder:default=8080
	// +optional
	Port int32 `json:"port,omitempty"`

	// Replicas is the number of pods.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +kubebuilder:default=1
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// Env is a list of plain environment variables for the container. Credentials of
	// backing services are injected from Secrets and never listed here.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=200
	Env []EnvVar `json:"env,omitempty"`

	// Args replace the image's default arguments. $(VAR) expands from the
	// container's environment, including the backing services' Secrets (for
	// example --db-url-host=$(PGHOST)).
	// +optional
	// +kubebuilder:validation:MaxItems=100
	Args []string `json:"args,omitempty"`

	// SecretEnv sets variables from keys of existing Secrets in the namespace
	// (made by a person or another tool, never by the release file).
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=50
	SecretEnv []SecretEnvVar `json:"secretEnv,omitempty"`

	// ExternalSecrets sets variables from the app's own secrets in the
	// platform's secret store (AWS Secrets Manager, through External Secrets
	// Operator). Each key is relative to the app's prefix, plattr/<env>/<app>/,
	// which the operator adds: no app can name another's.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=50
	ExternalSecrets []ExternalSecretVar `json:"externalSecrets,omitempty"`

	// HealthCheck configures the readiness and liveness probes.
	// +optional
	HealthCheck *HealthCheck `json:"healthCheck,omitempty"`

	// Ingress exposes the application over HTTP(S).
	// +optional
	Ingress *Ingress `json:"ingress,omitempty"`

	// Resources are the container's compute requests and limits.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// Database asks for a PostgreSQL database and role.
	// +optional
	Database *DatabaseSpec `json:"database,omitempty"`

	// Redis asks for a Redis ACL user confined to the application's key prefix.
	// +optional
	Redis *RedisSpec `json:"redis,omitempty"`

	// Search asks for an OpenSearch index prefix with its own role and user.
	// +optional
	Search *SearchSpec `json:"search,omitempty"`

	// Auth asks for a Keycloak OIDC client.
	// +optional
	Auth *AuthSpec `json:"auth,omitempty"`

	// Release is a command run once per image before that image's pods roll
	// out (schema migrations): the previous pods keep serving while it runs
	// and when it fails.
	// +optional
	Release *ReleaseSpec `json:"release,omitempty"`

	// Credentials says when the backing services' credentials rotate.
	// +optional
	Credentials *CredentialsSpec `json:"credentials,omitempty"`

	// DeletionPolicy says whether backing-service data is dropped (Delete) or kept
	// (Retain) when the Application is deleted.
	// +kubebuilder:default=Retain
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
}

// CredentialsSpec says when an app's backing-service credentials rotate, with
// no failed login: the new ones are valid beside the old ones until every
// pod has restarted with them.
type CredentialsSpec struct {
	// Rotate: any new value rotates the credentials of every service of the
	// app once (in env.yaml: a reviewed commit, in git's history).
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9._-]*$`
	// +optional
	Rotate string `json:"rotate,omitempty"`
	// Every rotates them on a schedule as well: a duration such as 90d or
	// 720h (at least 1h), counted from the last rotation.
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:Pattern=`^[0-9]+(d|h|m)$`
	// +optional
	Every string `json:"every,omitempty"`
}

// ReleaseSpec is an app's release phase: a command run as a Job in the
// release's image, with the app's environment (its backing services' Secrets
// included), once per image.
type ReleaseSpec struct {
	// Command replaces the image's entrypoint; $(VAR) expands from the
	// container's environment.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MaxLength=4096
	Command []string `json:"command"`
	// Timeout is how long the command may run (between 1s and 6h; default 10m).
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// EnvVar is a plain environment variable.
type EnvVar struct {
	// Name of the variable: letters, digits and underscores, not starting with a digit.
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	// +kubebuilder:validation:MaxLength=128
	Name string `json:"name"`
	// Value of the variable.
	// +kubebuilder:validation:MaxLength=32768
	// +optional
	Value string `json:"value,omitempty"`
}

// ExternalSecretVar is a variable taken from one of the app's secrets in the
// platform's secret store.
type ExternalSecretVar struct {
	// Name of the variable.
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	// +kubebuilder:validation:MaxLength=128
	Name string `json:"name"`
	// Key of the secret, relative to plattr/<env>/<app>/: parts of letters,
	// digits and _+=.@- separated by '/' (ExternalSecretKeyPattern).
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_+=@-][A-Za-z0-9_+=.@-]*(/[A-Za-z0-9_+=@-][A-Za-z0-9_+=.@-]*)*$`
	// +kubebuilder:validation:MaxLength=256
	Key string `json:"key"`
}

// SecretEnvVar is a variable taken from a key of a Secret.
type SecretEnvVar struct {
	// Name of the variable.
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	// +kubebuilder:validation:MaxLength=128
	Name string `json:"name"`
	// SecretName is the Secret, in the Application's namespace.
	// +kubebuilder:validation:MaxLength=253
	SecretName string `json:"secretName"`
	// Key in the Secret.
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
}

// HealthCheck configures HTTP probes.
type HealthCheck struct {
	// Path is the HTTP path probed for readiness and liveness.
	// +kubebuilder:validation:Pattern=`^/`
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:default=/
	// +optional
	Path string `json:"path,omitempty"`
	// InitialDelaySeconds before the first probe.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=600
	// +optional
	InitialDelaySeconds int32 `json:"initialDelaySeconds,omitempty"`
	// PeriodSeconds between probes.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=300
	// +optional
	PeriodSeconds int32 `json:"periodSeconds,omitempty"`
}

// Ingress exposes the application.
type Ingress struct {
	// Enabled creates an Ingress for the application.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// Host is the DNS name. Defaults to <app>.<env>.<base domain>, or <app>.<base
	// domain> in the production environment.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +optional
	Host string `json:"host,omitempty"`
}

// DatabaseSpec asks for a PostgreSQL database.
type DatabaseSpec struct {
	// Enabled provisions one database and one login role for the application.
	Enabled bool `json:"enabled"`
	// Extensions to create in the database (for example pgcrypto).
	// +optional
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:Pattern=`^[a-z][a-z0-9_]*$`
	Extensions []string `json:"extensions,omitempty"`
}

// RedisSpec asks for a Redis ACL user.
type RedisSpec struct {
	// Enabled provisions an ACL user confined to the key prefix <env>:<app>:.
	Enabled bool `json:"enabled"`
}

// SearchSpec asks for OpenSearch access.
type SearchSpec struct {
	// Enabled provisions a role and user allowed on indices <env>.<app>.* (OPENSEARCH_INDEX_PREFIX is <env>.<app>.).
	Enabled bool `json:"enabled"`
}

// AuthSpec asks for a Keycloak OIDC client.
type AuthSpec struct {
	// Enabled provisions a confidential OIDC client in the environment's realm.
	Enabled bool `json:"enabled"`
	// RedirectPaths are appended to the application's URL to form the allowed
	// redirect URIs.
	// +optional
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:Pattern=`^/[^*\s]*$`
	RedirectPaths []string `json:"redirectPaths,omitempty"`
}

// ApplicationStatus is the observed state of an Application.
type ApplicationStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// URL is where the application is served.
	// +optional
	URL string `json:"url,omitempty"`
	// Conditions: Ready, plus one per part (WorkloadReady, DatabaseReady, RedisReady,
	// SearchReady, AuthReady, ReleaseReady).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Release reports the release phase of the spec's image.
	// +optional
	Release *ReleaseStatus `json:"release,omitempty"`
	// Credentials are the backing services' credentials: since when, and a
	// rotation under way.
	// +optional
	// +listType=map
	// +listMapKey=service
	Credentials []CredentialStatus `json:"credentials,omitempty"`
	// GitHubDeployment is the GitHub Deployment that records this release on
	// its source repository (plattr.dev/source-repo and -commit), when the
	// operator has GitHub access.
	// +optional
	GitHubDeployment *GitHubDeploymentStatus `json:"githubDeployment,omitempty"`
}

// CredentialStatus is one service's credentials.
type CredentialStatus struct {
	// Service is the backing service (postgres, redis, ...).
	Service string `json:"service"`
	// Since is when its credentials were made or last rotated.
	Since metav1.Time `json:"since"`
	// Rotated is the spec.credentials.rotate value last carried out.
	// +optional
	Rotated string `json:"rotated,omitempty"`
	// Next is when they rotate on their own (spec.credentials.every).
	// +optional
	Next *metav1.Time `json:"next,omitempty"`
	// Rotating: new credentials are handed out and the previous ones are
	// still valid, until no pod uses them.
	// +optional
	Rotating bool `json:"rotating,omitempty"`
	// Message says what a rotation waits for.
	// +optional
	Message string `json:"message,omitempty"`
}

// Release phases.
const (
	ReleasePhaseRunning   = "Running"
	ReleasePhaseSucceeded = "Succeeded"
	ReleasePhaseFailed    = "Failed"
)

// ReleaseStatus is the release phase of one image.
type ReleaseStatus struct {
	// Image whose release command this reports.
	Image string `json:"image"`
	// Job that runs it.
	Job string `json:"job"`
	// Phase: Running, Succeeded or Failed.
	Phase string `json:"phase"`
	// Succeeded are the images whose release command succeeded, newest
	// first (at most MaxReleaseHistory): none runs again, even once its Job
	// is gone (a rollback to one of them).
	// +optional
	// +kubebuilder:validation:MaxItems=10
	Succeeded []string `json:"succeeded,omitempty"`
}

// MaxReleaseHistory is how many images ReleaseStatus.Succeeded remembers.
const MaxReleaseHistory = 10

// GitHubDeploymentStatus is what the operator last recorded on GitHub.
type GitHubDeploymentStatus struct {
	// ID of the deployment on the repository.
	ID int64 `json:"id"`
	// Repository (owner/name), Commit, Image and Environment it records.
	Repository  string `json:"repository"`
	Commit      string `json:"commit"`
	Image       string `json:"image"`
	Environment string `json:"environment"`
	// State is its latest status: in_progress, success or failure.
	State string `json:"state"`
	// Replaces is the deployment of the release before, made inactive once
	// this one succeeds.
	// +optional
	Replaces int64 `json:"replaces,omitempty"`
}

// Application is one application released into one environment: its workload
// and its backing services.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=papp,categories=plattr
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.status.url`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=`.spec.image`,priority=1
type Application struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ApplicationSpec   `json:"spec,omitempty"`
	Status ApplicationStatus `json:"status,omitempty"`
}

// ApplicationList is a list of Applications.
//
// +kubebuilder:object:root=true
type ApplicationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Application `json:"items"`
}

func metav1AddToGroupVersion(s *runtime.Scheme) { metav1.AddToGroupVersion(s, GroupVersion) }

package v1alpha1

// Condition types. Ready summarises the others (kstatus-compatible).
const (
	ConditionReady         = "Ready"
	ConditionWorkloadReady = "WorkloadReady"
	ConditionDatabaseReady = "DatabaseReady"
	ConditionRedisReady    = "RedisReady"
	ConditionSearchReady   = "SearchReady"
	ConditionAuthReady     = "AuthReady"
	// ConditionReleaseReady reports the release phase (spec.release) of the
	// spec's image; present only when the app has one.
	ConditionReleaseReady = "ReleaseReady"
	// ConditionStalled is set when the Application cannot progress without a change by a person.
	ConditionStalled = "Stalled"
	// ConditionGitHubDeployment says whether the release is recorded as a
	// GitHub Deployment on its source repository. It is a report, not a part:
	// Ready does not wait for it.
	ConditionGitHubDeployment = "GitHubDeployment"
	// ConditionCredentialsRotated reports credential rotation, once the app
	// has rotated: False while a rotation waits for the pods or sessions of
	// the previous credentials (reason RotationStuck past the operator's
	// rotation deadline), True when none is under way. A report too: the
	// app works with either credentials, so Ready does not wait for it.
	ConditionCredentialsRotated = "CredentialsRotated"
)

// Reports are the condition types that Ready does not summarise.
func Reports() []string {
	return []string{ConditionGitHubDeployment, ConditionCredentialsRotated}
}

// Annotations written into release.yaml by plattr-gen.
const (
	AnnotationSourceRepo   = "plattr.dev/source-repo"
	AnnotationSourceCommit = "plattr.dev/source-commit"
)

// Labels.
const (
	// LabelEnvironment on a namespace names the Plattr environment it hosts.
	LabelEnvironment = "plattr.dev/environment"
	// LabelDevelopment ("true") on a namespace marks an environment on a
	// developer's machine (plattr deploy local's): only there do services accept
	// plain-HTTP loopback addresses such as http://localhost redirects.
	LabelDevelopment = "plattr.dev/development"
	// LabelRetained ("true") marks a Secret of a deleted Application whose
	// deletionPolicy was Retain: its data was kept, and so are the credentials
	// to it. An Application created again with the same name in the same
	// namespace takes the Secret back, and the label goes.
	LabelRetained = "plattr.dev/retained"
	// LabelApp names the Plattr application an object belongs to.
	LabelApp = "plattr.dev/app"
)

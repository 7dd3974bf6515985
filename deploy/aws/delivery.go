// Package aws is Plattr's AWS account as CDK stacks (aws-cdk-go), each usable
// alone: Delivery (image registries and the GitHub Actions roles that push to
// them) first; the network and cluster, data and platform identity stacks
// follow. Synthesising needs no AWS credentials and makes no lookups: every
// stack takes its account and region explicitly.
package aws

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecr"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// GitHub Actions' OIDC issuer and the audience its tokens carry for AWS.
const (
	githubIssuer   = "token.actions.githubusercontent.com"
	githubAudience = "sts.amazonaws.com"
)

// DeliveryProps configures the Delivery stack.
type DeliveryProps struct {
	awscdk.StackProps
	// AppRepos are the GitHub repositories (owner/name) whose workflows may push
	// app images, from AppBranches and from their pull requests. No wildcard.
	AppRepos []string
	// AppBranches may push (default main).
	AppBranches []string
	// PlattrRepo is the repository (owner/name) whose release workflow, on v*
	// tags only, may push the operator's image.
	PlattrRepo string
	// AppImagePrefix is the ECR namespace of app images (default "apps"):
	// repositories under it are created on first push from a template.
	AppImagePrefix string
	// ExistingOIDCProviderArn imports the account's GitHub OIDC provider (an
	// account has one per issuer) instead of creating it.
	ExistingOIDCProviderArn string
}

var (
	ownerRepo = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$`)
	branch    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]*$`)
	prefix    = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)
)

// Check refuses props that would make a role wider than its purpose: a
// wildcard or malformed repository or branch, no repositories.
func (p *DeliveryProps) Check() error {
	if len(p.AppRepos) == 0 {
		return fmt.Errorf("AppRepos: name at least one owner/name repository whose workflows push app images")
	}
	for _, r := range p.AppRepos {
		if !ownerRepo.MatchString(r) {
			return fmt.Errorf("AppRepos: %q is not an owner/name repository (wildcards are not allowed)", r)
		}
	}
	for _, b := range p.AppBranches {
		if !branch.MatchString(b) || strings.Contains(b, "..") {
			return fmt.Errorf("AppBranches: %q is not a branch name (wildcards are not allowed)", b)
		}
	}
	if !ownerRepo.MatchString(p.PlattrRepo) {
		return fmt.Errorf("PlattrRepo: %q is not an owner/name repository", p.PlattrRepo)
	}
	if p.AppImagePrefix != "" && !prefix.MatchString(p.AppImagePrefix) {
		return fmt.Errorf("AppImagePrefix: %q is not an ECR namespace (lower-case letters, digits, . _ -)", p.AppImagePrefix)
	}
	return nil
}

// Delivery is the Delivery stack and what other stacks and overlays/aws need of it.
type Delivery struct {
	awscdk.Stack
	OperatorRepository awsecr.Repository
	AppPushRole        awsiam.Role
	ReleaseRole        awsiam.Role
}

// NewDelivery makes the Delivery stack: the operator's ECR repository
// (immutable tags, scan on push), a creation template for app repositories
// under AppImagePrefix (the same settings), the GitHub Actions OIDC provider,
// and two roles that its tokens assume: app CI (AppRepos, AppBranches and pull
// requests) may push only to app repositories, the release workflow (PlattrRepo,
// v* tags) only to the operator's.
func NewDelivery(scope constructs.Construct, id string, p DeliveryProps) (*Delivery, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	if len(p.AppBranches) == 0 {
		p.AppBranches = []string{"main"}
	}
	if p.AppImagePrefix == "" {
		p.AppImagePrefix = "apps"
	}
	stack := awscdk.NewStack(scope, jsii.String(id), &p.StackProps)
	d := &Delivery{Stack: stack}

	d.OperatorRepository = awsecr.NewRepository(stack, jsii.String("OperatorRepository"), &awsecr.RepositoryProps{
		RepositoryName:     jsii.String("plattr-operator"),
		ImageTagMutability: awsecr.TagMutability_IMMUTABLE,
		ImageScanOnPush:    jsii.Bool(true),
		Encryption:         awsecr.RepositoryEncryption_AES_256(),
		RemovalPolicy:      awscdk.RemovalPolicy_RETAIN,
	})
	awsecr.NewCfnRepositoryCreationTemplate(stack, jsii.String("AppRepositories"), &awsecr.CfnRepositoryCreationTemplateProps{
		Prefix:                  jsii.String(p.AppImagePrefix),
		AppliedFor:              jsii.Strings("CREATE_ON_PUSH"),
		Description:             jsii.String("Plattr app images: created on first push, tags immutable"),
		ImageTagMutability:      jsii.String("IMMUTABLE"),
		EncryptionConfiguration: &awsecr.CfnRepositoryCreationTemplate_EncryptionConfigurationProperty{EncryptionType: jsii.String("AES256")},
	})

	// The native provider (AWS::IAM::OIDCProvider): no custom resource, no
	// Lambda. IAM trusts GitHub's certificate authority itself: no thumbprint.
	var provider awsiam.IOidcProvider
	if p.ExistingOIDCProviderArn != "" {
		provider = awsiam.OidcProviderNative_FromOidcProviderArn(stack, jsii.String("GitHubOIDC"), jsii.String(p.ExistingOIDCProviderArn))
	} else {
		provider = awsiam.NewOidcProviderNative(stack, jsii.String("GitHubOIDC"), &awsiam.OidcProviderNativeProps{
			Url:       jsii.String("https://" + githubIssuer),
			ClientIds: jsii.Strings(githubAudience),
		})
	}

	var appSubjects []string
	for _, r := range p.AppRepos {
		for _, b := range p.AppBranches {
			appSubjects = append(appSubjects, "repo:"+r+":ref:refs/heads/"+b)
		}
		appSubjects = append(appSubjects, "repo:"+r+":pull_request")
	}
	sort.Strings(appSubjects)
	d.AppPushRole = githubRole(stack, "AppPushRole", provider, appSubjects, "GitHub Actions of the app repositories: push app images")
	appRepos := stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("ecr"), Resource: jsii.String("repository"),
		ResourceName: jsii.String(p.AppImagePrefix + "/*")})
	d.AppPushRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("PushAppImages"),
		Actions:   jsii.Strings(pushActions(true)...),
		Resources: &[]*string{appRepos},
	}))
	grantLogin(d.AppPushRole)

	d.ReleaseRole = githubRole(stack, "ReleaseRole", provider, []string{"repo:" + p.PlattrRepo + ":ref:refs/tags/v*"},
		"GitHub Actions of Plattr's release workflow: push the operator's image")
	d.ReleaseRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("PushOperatorImage"),
		Actions:   jsii.Strings(pushActions(false)...),
		Resources: &[]*string{d.OperatorRepository.RepositoryArn()},
	}))
	grantLogin(d.ReleaseRole)

	awscdk.NewCfnOutput(stack, jsii.String("OperatorRepositoryUri"), &awscdk.CfnOutputProps{Value: d.OperatorRepository.RepositoryUri()})
	awscdk.NewCfnOutput(stack, jsii.String("AppPushRoleArn"), &awscdk.CfnOutputProps{Value: d.AppPushRole.RoleArn()})
	awscdk.NewCfnOutput(stack, jsii.String("ReleaseRoleArn"), &awscdk.CfnOutputProps{Value: d.ReleaseRole.RoleArn()})
	awscdk.NewCfnOutput(stack, jsii.String("AppRegistry"), &awscdk.CfnOutputProps{
		Value: awscdk.Fn_Join(jsii.String(""), &[]*string{stack.Account(), jsii.String(".dkr.ecr."), stack.Region(),
			jsii.String(".amazonaws.com/" + p.AppImagePrefix)})})
	return d, nil
}

// githubRole is a role GitHub Actions' OIDC tokens assume: the audience is
// AWS's and the subject one of subjects, exactly (StringLike only for the
// release's tag pattern).
func githubRole(stack awscdk.Stack, id string, provider awsiam.IOidcProvider, subjects []string, description string) awsiam.Role {
	op := "StringEquals"
	for _, s := range subjects {
		if strings.Contains(s, "*") {
			op = "StringLike"
		}
	}
	conditions := map[string]any{"StringEquals": map[string]any{githubIssuer + ":aud": githubAudience}}
	if op == "StringEquals" {
		conditions[op].(map[string]any)[githubIssuer+":sub"] = subjects
	} else {
		conditions[op] = map[string]any{githubIssuer + ":sub": subjects}
	}
	return awsiam.NewRole(stack, jsii.String(id), &awsiam.RoleProps{
		Description:        jsii.String(description),
		MaxSessionDuration: awscdk.Duration_Hours(jsii.Number(1)),
		AssumedBy:          awsiam.NewWebIdentityPrincipal(provider.OidcProviderArn(), &conditions),
	})
}

// pushActions are what pushing an image needs on its repository; creating it
// too for app images (ECR's create-on-push).
func pushActions(create bool) []string {
	a := []string{"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:CompleteLayerUpload",
		"ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart"}
	if create {
		a = append(a, "ecr:CreateRepository")
	}
	return a
}

// grantLogin allows ecr:GetAuthorizationToken, which IAM only grants on "*"
// (it names no repository).
func grantLogin(role awsiam.Role) {
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("RegistryLogin"),
		Actions:   jsii.Strings("ecr:GetAuthorizationToken"),
		Resources: jsii.Strings("*"),
	}))
}

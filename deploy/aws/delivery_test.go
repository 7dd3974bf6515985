package aws

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// env is an explicit account and region: synthesis makes no lookups and needs
// no credentials.
var env = &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("eu-west-1")}

func props() DeliveryProps {
	return DeliveryProps{StackProps: awscdk.StackProps{Env: env}, AppRepos: []string{"acme/shop", "acme/billing"},
		AppBranches: []string{"main"}, PlattrRepo: "acme/plattr"}
}

func template(t *testing.T, p DeliveryProps) map[string]any {
	t.Helper()
	app := awscdk.NewApp(nil)
	d, err := NewDelivery(app, "PlattrDelivery", p)
	require.NoError(t, err)
	tpl := assertions.Template_FromStack(d.Stack, nil)
	var out map[string]any
	data, err := json.Marshal(tpl.ToJSON())
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &out))
	return out
}

func resources(tpl map[string]any, typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range tpl["Resources"].(map[string]any) {
		m := r.(map[string]any)
		if m["Type"] == typ {
			out[id] = m
		}
	}
	return out
}

func one(t *testing.T, tpl map[string]any, typ, idPrefix string) map[string]any {
	t.Helper()
	for id, r := range resources(tpl, typ) {
		if strings.HasPrefix(id, idPrefix) {
			return r["Properties"].(map[string]any)
		}
	}
	t.Fatalf("no %s %s*", typ, idPrefix)
	return nil
}

func TestDelivery_Registries(t *testing.T) {
	tpl := template(t, props())
	repo := one(t, tpl, "AWS::ECR::Repository", "OperatorRepository")
	assert.Equal(t, "plattr-operator", repo["RepositoryName"])
	assert.Equal(t, "IMMUTABLE", repo["ImageTagMutability"])
	assert.Equal(t, map[string]any{"ScanOnPush": true}, repo["ImageScanningConfiguration"])
	if enc := repo["EncryptionConfiguration"]; enc != nil { // ECR encrypts every repository, AES256 unless told KMS
		assert.Equal(t, map[string]any{"EncryptionType": "AES256"}, enc)
	}
	for _, r := range resources(tpl, "AWS::ECR::Repository") {
		assert.Equal(t, "Retain", r["DeletionPolicy"], "images outlive the stack")
	}
	tmpl := one(t, tpl, "AWS::ECR::RepositoryCreationTemplate", "AppRepositories")
	assert.Equal(t, "apps", tmpl["Prefix"])
	assert.Equal(t, "IMMUTABLE", tmpl["ImageTagMutability"])
	assert.Equal(t, []any{"CREATE_ON_PUSH"}, tmpl["AppliedFor"])
	oidc := one(t, tpl, "AWS::IAM::OIDCProvider", "GitHubOIDC")
	assert.Equal(t, "https://token.actions.githubusercontent.com", oidc["Url"])
	assert.Equal(t, []any{"sts.amazonaws.com"}, oidc["ClientIdList"])
	assert.Empty(t, resources(tpl, "AWS::Lambda::Function"), "no custom resource behind the provider")
}

// The roles trust GitHub's tokens for AWS, from exactly the listed
// repositories and branches (and pull requests), the release only on v* tags.
func TestDelivery_TrustPolicies(t *testing.T) {
	tpl := template(t, props())
	trust := func(prefix string) map[string]any {
		role := one(t, tpl, "AWS::IAM::Role", prefix)
		stmts := role["AssumeRolePolicyDocument"].(map[string]any)["Statement"].([]any)
		require.Len(t, stmts, 1)
		s := stmts[0].(map[string]any)
		assert.Equal(t, "sts:AssumeRoleWithWebIdentity", s["Action"])
		assert.Equal(t, "Allow", s["Effect"])
		assert.EqualValues(t, 3600, role["MaxSessionDuration"])
		return s["Condition"].(map[string]any)
	}
	app := trust("AppPushRole")
	assert.Equal(t, map[string]any{"StringEquals": map[string]any{
		"token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
		"token.actions.githubusercontent.com:sub": []any{
			"repo:acme/billing:pull_request", "repo:acme/billing:ref:refs/heads/main",
			"repo:acme/shop:pull_request", "repo:acme/shop:ref:refs/heads/main",
		},
	}}, app, "exact subjects, no wildcard")
	rel := trust("ReleaseRole")
	assert.Equal(t, map[string]any{
		"StringEquals": map[string]any{"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
		"StringLike":   map[string]any{"token.actions.githubusercontent.com:sub": []any{"repo:acme/plattr:ref:refs/tags/v*"}},
	}, rel)
}

// Each role may push only where its purpose is; "*" only where IAM allows
// nothing narrower (ecr:GetAuthorizationToken).
func TestDelivery_LeastPrivilege(t *testing.T) {
	tpl := template(t, props())
	byRole := map[string][]map[string]any{}
	for _, p := range resources(tpl, "AWS::IAM::Policy") {
		props := p["Properties"].(map[string]any)
		role := props["Roles"].([]any)[0].(map[string]any)["Ref"].(string)
		for _, s := range props["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			byRole[role] = append(byRole[role], s.(map[string]any))
		}
	}
	require.Len(t, byRole, 2)
	for role, stmts := range byRole {
		for _, s := range stmts {
			actions := s["Action"]
			if s["Resource"] == "*" {
				assert.Equal(t, "ecr:GetAuthorizationToken", actions, "%s: only the login is on *", role)
			}
			for _, a := range asList(actions) {
				assert.NotContains(t, a, "*", "%s: no wildcard actions", role)
			}
		}
	}
	data, _ := json.Marshal(byRole)
	assert.Contains(t, string(data), `123456789012:repository/apps/*"`, "app CI pushes under apps/ only")
	assert.NotContains(t, string(data), `"ecr:DeleteRepository"`)
}

func asList(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, e.(string))
		}
		return out
	}
	return nil
}

func TestDelivery_RefusesWideProps(t *testing.T) {
	for _, c := range []struct {
		mutate func(*DeliveryProps)
		want   string
	}{
		{func(p *DeliveryProps) { p.AppRepos = nil }, "AppRepos: name at least one"},
		{func(p *DeliveryProps) { p.AppRepos = []string{"acme/*"} }, `AppRepos: "acme/*" is not an owner/name`},
		{func(p *DeliveryProps) { p.AppRepos = []string{"*"} }, `AppRepos: "*"`},
		{func(p *DeliveryProps) { p.AppBranches = []string{"*"} }, `AppBranches: "*" is not a branch name`},
		{func(p *DeliveryProps) { p.AppBranches = []string{"release/*"} }, `AppBranches: "release/*"`},
		{func(p *DeliveryProps) { p.PlattrRepo = "" }, "PlattrRepo"},
		{func(p *DeliveryProps) { p.AppImagePrefix = "Apps/" }, "AppImagePrefix"},
	} {
		p := props()
		c.mutate(&p)
		_, err := NewDelivery(awscdk.NewApp(nil), "PlattrDelivery", p)
		assert.ErrorContains(t, err, c.want)
	}
}

// An account's existing GitHub provider is imported by ARN, not created again.
func TestDelivery_ExistingOIDCProvider(t *testing.T) {
	p := props()
	p.ExistingOIDCProviderArn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
	tpl := template(t, p)
	assert.Empty(t, resources(tpl, "AWS::IAM::OIDCProvider"))
	data, _ := json.Marshal(tpl)
	assert.Contains(t, string(data), p.ExistingOIDCProviderArn)
}

// The golden summaries: each resource's type and logical id, for reviews.
func TestDelivery_Summary(t *testing.T) { summary(t, template(t, props()), "delivery") }

func TestData_Summary(t *testing.T) { summary(t, dataTemplate(t, dataProps(true)), "data-production") }

func summary(t *testing.T, tpl map[string]any, name string) {
	t.Helper()
	var lines []string
	for id, r := range tpl["Resources"].(map[string]any) {
		lines = append(lines, r.(map[string]any)["Type"].(string)+" "+id)
	}
	sort.Strings(lines)
	got := strings.Join(lines, "\n") + "\n"
	golden := filepath.Join("testdata", name+".summary")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run with UPDATE_GOLDEN=1 once")
	assert.Equal(t, string(want), got)
}

package aws

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// clusterTemplate synthesises the Cluster stack over a Data stack (with the
// cache) in one app, as plattr-aws does.
func clusterTemplate(t *testing.T, mutate func(*ClusterProps)) map[string]any {
	t.Helper()
	app := awscdk.NewApp(nil)
	dp := dataProps(false)
	dp.Cache = true
	d, err := NewData(app, "PlattrData", dp)
	require.NoError(t, err)
	p := ClusterProps{StackProps: awscdk.StackProps{Env: env}, Vpc: d.Vpc, ClientSecurityGroup: d.ClientSecurityGroup,
		AdminPrincipalArns: []string{"arn:aws:iam::123456789012:role/platform-team"}, CacheUserGroupID: CacheUserGroupID}
	if mutate != nil {
		mutate(&p)
	}
	c, err := NewCluster(app, "PlattrCluster", p)
	require.NoError(t, err)
	var out map[string]any
	data, err := json.Marshal(assertions.Template_FromStack(c.Stack, nil).ToJSON())
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &out))
	return out
}

func propsOf(r map[string]any) map[string]any { return r["Properties"].(map[string]any) }

func jsonOf(v any) string {
	data, _ := json.Marshal(v)
	return string(data)
}

// The operator's role is assumed only through EKS Pod Identity, for this
// account and cluster, by plattr-system/plattr-operator; it may manage the
// cache's users named plattr-* and its user group, nothing else.
func TestCluster_OperatorIdentity(t *testing.T) {
	tpl := clusterTemplate(t, nil)
	assoc := one(t, tpl, "AWS::EKS::PodIdentityAssociation", "OperatorPodIdentity")
	assert.Equal(t, "plattr-system", assoc["Namespace"])
	assert.Equal(t, "plattr-operator", assoc["ServiceAccount"])

	role := one(t, tpl, "AWS::IAM::Role", "OperatorRole")
	trust := role["AssumeRolePolicyDocument"].(map[string]any)["Statement"].([]any)
	require.Len(t, trust, 1)
	st := trust[0].(map[string]any)
	assert.Equal(t, map[string]any{"Service": "pods.eks.amazonaws.com"}, st["Principal"])
	assert.ElementsMatch(t, []any{"sts:AssumeRole", "sts:TagSession"}, st["Action"])
	cond := jsonOf(st["Condition"])
	assert.Contains(t, cond, `"aws:SourceAccount":"123456789012"`)
	assert.Contains(t, cond, `"aws:SourceArn":{"Fn::GetAtt":["Cluster`)

	var statements []map[string]any
	for _, p := range resources(tpl, "AWS::IAM::Policy") {
		if strings.Contains(jsonOf(propsOf(p)["Roles"]), "OperatorRole") {
			for _, s := range propsOf(p)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
				statements = append(statements, s.(map[string]any))
			}
		}
	}
	require.Len(t, statements, 2)
	for _, s := range statements {
		assert.NotContains(t, jsonOf(s["Action"]), `"*"`)
		assert.NotContains(t, jsonOf(s["Action"]), `elasticache:*`)
		res := jsonOf(s["Resource"])
		assert.NotEqual(t, `"*"`, res, "no action on every resource")
		switch s["Sid"] {
		case "AppCacheUsers":
			assert.Contains(t, res, ":user:plattr-*")
		case "AppCacheUserGroup":
			assert.Contains(t, res, ":usergroup:plattr-apps")
		default:
			t.Errorf("unexpected statement %v", s)
		}
	}

	// Without the cache, the operator's role may do nothing at all.
	bare := clusterTemplate(t, func(p *ClusterProps) { p.CacheUserGroupID = "" })
	for _, p := range resources(bare, "AWS::IAM::Policy") {
		assert.NotContains(t, jsonOf(propsOf(p)["Roles"]), "OperatorRole")
	}
}

// Access goes through access entries only: the platform team's roles get
// cluster admin, the deployer nothing; the endpoint is private unless ranges
// are given; Secrets are encrypted with the stack's key; pods cannot reach the
// node's instance metadata (IMDSv2, one hop).
func TestCluster_AccessAndHardening(t *testing.T) {
	tpl := clusterTemplate(t, nil)
	cluster := one(t, tpl, "AWS::EKS::Cluster", "Cluster")
	assert.Equal(t, map[string]any{"AuthenticationMode": "API", "BootstrapClusterCreatorAdminPermissions": false}, cluster["AccessConfig"])
	assert.Equal(t, KubernetesVersion, cluster["Version"])
	vpc := cluster["ResourcesVpcConfig"].(map[string]any)
	assert.Equal(t, false, vpc["EndpointPublicAccess"])
	assert.Equal(t, true, vpc["EndpointPrivateAccess"])
	assert.Contains(t, jsonOf(cluster["EncryptionConfig"]), `"Resources":["secrets"]`)
	assert.Contains(t, jsonOf(cluster["Logging"]), `"audit"`)

	entries := resources(tpl, "AWS::EKS::AccessEntry")
	require.Len(t, entries, 1)
	for _, e := range entries {
		assert.Equal(t, "arn:aws:iam::123456789012:role/platform-team", propsOf(e)["PrincipalArn"])
		assert.Contains(t, jsonOf(propsOf(e)["AccessPolicies"]), "AmazonEKSClusterAdminPolicy")
	}

	lt := one(t, tpl, "AWS::EC2::LaunchTemplate", "NodeTemplate")
	meta := lt["LaunchTemplateData"].(map[string]any)["MetadataOptions"].(map[string]any)
	assert.Equal(t, "required", meta["HttpTokens"])
	assert.EqualValues(t, 1, meta["HttpPutResponseHopLimit"])
	assert.Contains(t, jsonOf(lt["LaunchTemplateData"].(map[string]any)["SecurityGroupIds"]), "DatabaseClients", "nodes reach the database")

	var addons []string
	for _, a := range resources(tpl, "AWS::EKS::Addon") {
		addons = append(addons, propsOf(a)["AddonName"].(string))
	}
	assert.ElementsMatch(t, []string{"eks-pod-identity-agent", "vpc-cni", "coredns", "kube-proxy"}, addons)

	open := clusterTemplate(t, func(p *ClusterProps) { p.PublicAccessCidrs = []string{"203.0.113.0/24"} })
	vpc = one(t, open, "AWS::EKS::Cluster", "Cluster")["ResourcesVpcConfig"].(map[string]any)
	assert.Equal(t, true, vpc["EndpointPublicAccess"])
	assert.Equal(t, []any{"203.0.113.0/24"}, vpc["PublicAccessCidrs"])
	summary(t, tpl, "cluster")
}

func TestCluster_Refuses(t *testing.T) {
	for _, c := range []struct {
		mutate func(*ClusterProps)
		want   string
	}{
		{func(p *ClusterProps) { p.AdminPrincipalArns = nil }, "AdminPrincipalArns: name at least one"},
		{func(p *ClusterProps) { p.AdminPrincipalArns = []string{"arn:aws:iam::123456789012:role/*"} }, "not an IAM role or user ARN"},
		{func(p *ClusterProps) { p.PublicAccessCidrs = []string{"0.0.0.0/0"} }, "0.0.0.0/0 is refused"},
		{func(p *ClusterProps) { p.Version = "latest" }, "Version"},
		{func(p *ClusterProps) { p.Name = "-x" }, "Name"},
	} {
		app := awscdk.NewApp(nil)
		d, err := NewData(app, "PlattrData", dataProps(false))
		require.NoError(t, err)
		p := ClusterProps{StackProps: awscdk.StackProps{Env: env}, Vpc: d.Vpc, ClientSecurityGroup: d.ClientSecurityGroup,
			AdminPrincipalArns: []string{"arn:aws:iam::123456789012:role/platform-team"}}
		c.mutate(&p)
		_, err = NewCluster(app, "PlattrCluster", p)
		assert.ErrorContains(t, err, c.want)
	}
}

// ExternalDNS may change the records of the apps' zone only, through Pod
// Identity for external-dns/external-dns; without a zone it has no role.
func TestCluster_ExternalDNSIdentity(t *testing.T) {
	tpl := clusterTemplate(t, func(p *ClusterProps) { p.HostedZoneID = "Z0123456789ABCDEFGHIJ" })
	assoc := one(t, tpl, "AWS::EKS::PodIdentityAssociation", "ExternalDNSPodIdentity")
	assert.Equal(t, "external-dns", assoc["Namespace"])
	assert.Equal(t, "external-dns", assoc["ServiceAccount"])
	role := one(t, tpl, "AWS::IAM::Role", "ExternalDNSRole")
	assert.Contains(t, jsonOf(role["AssumeRolePolicyDocument"]), "pods.eks.amazonaws.com")
	for _, p := range resources(tpl, "AWS::IAM::Policy") {
		if !strings.Contains(jsonOf(propsOf(p)["Roles"]), "ExternalDNSRole") {
			continue
		}
		for _, s := range propsOf(p)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			st := s.(map[string]any)
			if jsonOf(st["Resource"]) == `"*"` {
				assert.Equal(t, "route53:ListHostedZones", st["Action"], "only listing zones is on every resource")
			} else {
				assert.Contains(t, jsonOf(st["Resource"]), "hostedzone/Z0123456789ABCDEFGHIJ")
			}
		}
	}
	assert.Empty(t, resources(clusterTemplate(t, nil), "AWS::EKS::PodIdentityAssociation")["ExternalDNSPodIdentity"])
	_, err := NewCluster(awscdk.NewApp(nil), "X", ClusterProps{HostedZoneID: "../zone", AdminPrincipalArns: []string{"arn:aws:iam::123456789012:role/a"}})
	assert.ErrorContains(t, err, "HostedZoneID")
}

// An existing cluster is imported by name: the stack makes only the platform's
// identities, trusted for that cluster's ARN.
func TestCluster_Existing(t *testing.T) {
	c, err := NewCluster(awscdk.NewApp(nil), "PlattrCluster", ClusterProps{StackProps: awscdk.StackProps{Env: env},
		ExistingClusterName: "shared-prod", CacheUserGroupID: CacheUserGroupID, HostedZoneID: "Z0123456789ABCDEFGHIJ"})
	require.NoError(t, err)
	var tpl map[string]any
	data, err := json.Marshal(assertions.Template_FromStack(c.Stack, nil).ToJSON())
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &tpl))
	assert.Empty(t, resources(tpl, "AWS::EKS::Cluster"))
	assert.Empty(t, resources(tpl, "AWS::EKS::Nodegroup"))
	assert.Len(t, resources(tpl, "AWS::EKS::PodIdentityAssociation"), 3, "the operator's, External Secrets', ExternalDNS's")
	for _, a := range resources(tpl, "AWS::EKS::PodIdentityAssociation") {
		assert.Equal(t, "shared-prod", propsOf(a)["ClusterName"])
	}
	assert.Contains(t, jsonOf(one(t, tpl, "AWS::IAM::Role", "OperatorRole")["AssumeRolePolicyDocument"]), ":cluster/shared-prod")
	_, err = NewCluster(awscdk.NewApp(nil), "X", ClusterProps{ExistingClusterName: "bad name"})
	assert.ErrorContains(t, err, "ExistingClusterName")
}

// External Secrets Operator reads the apps' secrets under plattr/ and nothing
// else, through Pod Identity for external-secrets/external-secrets.
func TestCluster_ExternalSecretsIdentity(t *testing.T) {
	tpl := clusterTemplate(t, nil)
	assoc := one(t, tpl, "AWS::EKS::PodIdentityAssociation", "ExternalSecretsPodIdentity")
	assert.Equal(t, "external-secrets", assoc["Namespace"])
	assert.Equal(t, "external-secrets", assoc["ServiceAccount"])
	var found bool
	for _, p := range resources(tpl, "AWS::IAM::Policy") {
		if !strings.Contains(jsonOf(propsOf(p)["Roles"]), "ExternalSecretsRole") {
			continue
		}
		for _, s := range propsOf(p)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			st := s.(map[string]any)
			found = true
			assert.ElementsMatch(t, []any{"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}, st["Action"])
			assert.Contains(t, jsonOf(st["Resource"]), ":secret:plattr/*")
		}
	}
	assert.True(t, found)
}

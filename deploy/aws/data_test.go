package aws

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func dataProps(production bool) DataProps {
	return DataProps{StackProps: awscdk.StackProps{Env: env}, AvailabilityZones: []string{"eu-west-1a", "eu-west-1b", "eu-west-1c"},
		PostgresMajor: 16, Production: production}
}

func dataTemplate(t *testing.T, p DataProps) map[string]any {
	t.Helper()
	d, err := NewData(awscdk.NewApp(nil), "PlattrData", p)
	require.NoError(t, err)
	var out map[string]any
	data, err := json.Marshal(assertions.Template_FromStack(d.Stack, nil).ToJSON())
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &out))
	return out
}

func TestData_DatabaseIsPrivateAndEncrypted(t *testing.T) {
	for _, production := range []bool{false, true} {
		tpl := dataTemplate(t, dataProps(production))
		cluster := one(t, tpl, "AWS::RDS::DBCluster", "Aurora")
		assert.Equal(t, true, cluster["StorageEncrypted"])
		assert.Equal(t, "aurora-postgresql", cluster["Engine"])
		assert.True(t, strings.HasPrefix(cluster["EngineVersion"].(string), "16."), cluster["EngineVersion"])
		assert.Equal(t, map[string]any{"MinCapacity": 0.5, "MaxCapacity": 4.0}, cluster["ServerlessV2ScalingConfiguration"])
		assert.Equal(t, production, cluster["DeletionProtection"], "deletion protection in production only")
		for _, inst := range resources(tpl, "AWS::RDS::DBInstance") {
			assert.Equal(t, false, inst["Properties"].(map[string]any)["PubliclyAccessible"], "no public database")
		}
		for id, r := range resources(tpl, "AWS::RDS::DBCluster") {
			want := map[bool]string{true: "Snapshot", false: "Delete"}[production]
			assert.Equal(t, want, r["DeletionPolicy"], id)
		}
		if production {
			assert.EqualValues(t, 14, cluster["BackupRetentionPeriod"])
		}
		// The master credentials live in Secrets Manager, generated.
		assert.Len(t, resources(tpl, "AWS::SecretsManager::Secret"), 1)
		data, _ := json.Marshal(cluster["MasterUserPassword"])
		assert.Contains(t, string(data), "resolve:secretsmanager", "the password is never in the template")
	}
}

// 5432 is open only to the clients' security group; nothing else reaches the database.
func TestData_OnlyTheClusterReachesTheDatabase(t *testing.T) {
	tpl := dataTemplate(t, dataProps(false))
	var rules []map[string]any
	for _, r := range resources(tpl, "AWS::EC2::SecurityGroupIngress") {
		rules = append(rules, r["Properties"].(map[string]any))
	}
	for _, sg := range resources(tpl, "AWS::EC2::SecurityGroup") {
		if in, ok := sg["Properties"].(map[string]any)["SecurityGroupIngress"].([]any); ok {
			for _, r := range in {
				rules = append(rules, r.(map[string]any))
			}
		}
	}
	require.Len(t, rules, 1, "%v", rules)
	assert.EqualValues(t, 5432, rules[0]["FromPort"])
	assert.EqualValues(t, 5432, rules[0]["ToPort"])
	assert.Nil(t, rules[0]["CidrIp"], "no address range, only the clients' group")
	src, _ := json.Marshal(rules[0]["SourceSecurityGroupId"])
	assert.Contains(t, string(src), "DatabaseClients")
}

func TestData_ProductionNATPerZone(t *testing.T) {
	assert.Len(t, resources(dataTemplate(t, dataProps(false)), "AWS::EC2::NatGateway"), 1)
	assert.Len(t, resources(dataTemplate(t, dataProps(true)), "AWS::EC2::NatGateway"), 3)
}

func TestData_Refuses(t *testing.T) {
	for _, c := range []struct {
		mutate func(*DataProps)
		want   string
	}{
		{func(p *DataProps) { p.AvailabilityZones = p.AvailabilityZones[:1] }, "AvailabilityZones: give two or three"},
		{func(p *DataProps) { p.PostgresMajor = 15 }, "PostgresMajor: 16 or 17"},
		{func(p *DataProps) { p.MaxCapacity = 1000 }, "MaxCapacity"},
	} {
		p := dataProps(false)
		c.mutate(&p)
		_, err := NewData(awscdk.NewApp(nil), "PlattrData", p)
		assert.ErrorContains(t, err, c.want)
	}
	p := dataProps(false)
	p.PostgresMajor = 17
	cluster := one(t, dataTemplate(t, p), "AWS::RDS::DBCluster", "Aurora")
	assert.True(t, strings.HasPrefix(cluster["EngineVersion"].(string), "17."))
}

// The apps' cache: Valkey over TLS (serverless), in the isolated subnets,
// reachable only from the clients' group, with a user group whose default user
// is off: every app authenticates as its own user.
func TestData_Cache(t *testing.T) {
	p := dataProps(false)
	p.Cache = true
	tpl := dataTemplate(t, p)
	cache := one(t, tpl, "AWS::ElastiCache::ServerlessCache", "AppCache")
	assert.Equal(t, "valkey", cache["Engine"])
	assert.Contains(t, jsonOf(cache["SubnetIds"]), "dataSubnet")
	group := one(t, tpl, "AWS::ElastiCache::UserGroup", "CacheUsers")
	assert.Equal(t, CacheUserGroupID, group["UserGroupId"])
	def := one(t, tpl, "AWS::ElastiCache::User", "CacheDefaultUser")
	assert.Equal(t, "default", def["UserName"])
	assert.Equal(t, "off -@all", def["AccessString"])
	onlyFromClients(t, tpl, "Cache", 6379)
	assert.Empty(t, resources(dataTemplate(t, dataProps(false)), "AWS::ElastiCache::ServerlessCache"), "no cache unless asked")
}

// The apps' search: OpenSearch with fine-grained access control over its
// internal users (the security plugin's REST API the operator uses), HTTPS and
// TLS 1.2, encrypted at rest and between nodes, inside the VPC, reachable on 443
// only from the clients' group; the master password is generated into Secrets
// Manager and no output carries it.
func TestData_Search(t *testing.T) {
	for _, production := range []bool{false, true} {
		p := dataProps(production)
		p.Search = true
		tpl := dataTemplate(t, p)
		domain := one(t, tpl, "AWS::OpenSearchService::Domain", "SearchDomain")
		sec := domain["AdvancedSecurityOptions"].(map[string]any)
		assert.Equal(t, true, sec["Enabled"])
		assert.Equal(t, true, sec["InternalUserDatabaseEnabled"])
		assert.Contains(t, jsonOf(sec["MasterUserOptions"]), "resolve:secretsmanager", "the password is never in the template")
		assert.Equal(t, map[string]any{"EnforceHTTPS": true, "TLSSecurityPolicy": "Policy-Min-TLS-1-2-2019-07"}, domain["DomainEndpointOptions"])
		assert.Equal(t, map[string]any{"Enabled": true}, domain["NodeToNodeEncryptionOptions"])
		assert.Equal(t, true, domain["EncryptionAtRestOptions"].(map[string]any)["Enabled"])
		assert.Contains(t, jsonOf(domain["VPCOptions"]), "dataSubnet")
		cluster := domain["ClusterConfig"].(map[string]any)
		if production {
			assert.EqualValues(t, 3, cluster["InstanceCount"])
			assert.Equal(t, true, cluster["ZoneAwarenessEnabled"])
		} else {
			assert.EqualValues(t, 1, cluster["InstanceCount"])
		}
		for _, o := range tpl["Outputs"].(map[string]any) {
			assert.NotContains(t, jsonOf(o), "resolve:secretsmanager", "no output carries a secret")
		}
		onlyFromClients(t, tpl, "Search", 443)
	}
}

// Every security group's description is one CloudFormation accepts (no quotes).
func TestData_SecurityGroupDescriptions(t *testing.T) {
	p := dataProps(true)
	p.Cache, p.Search = true, true
	valid := regexp.MustCompile(`^([a-zA-Z0-9. _\-:/()#,@\[\]+=&;{}!$*])*$`)
	for id, sg := range resources(dataTemplate(t, p), "AWS::EC2::SecurityGroup") {
		assert.Regexp(t, valid, propsOf(sg)["GroupDescription"], id)
	}
}

// onlyFromClients asserts that the security group named group admits one rule:
// from port, from the clients' group, no address range.
func onlyFromClients(t *testing.T, tpl map[string]any, group string, port int) {
	t.Helper()
	var rules []string
	for _, r := range resources(tpl, "AWS::EC2::SecurityGroupIngress") {
		if strings.Contains(jsonOf(propsOf(r)["GroupId"]), group) {
			rules = append(rules, jsonOf(propsOf(r)))
		}
	}
	require.Len(t, rules, 1, group)
	assert.Contains(t, rules[0], fmt.Sprintf(`"FromPort":%d`, port))
	assert.Contains(t, rules[0], "DatabaseClients")
	assert.NotContains(t, rules[0], "CidrIp")
}

package aws

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awselasticache"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsopensearchservice"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsrds"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/jsii-runtime-go"
)

// DataProps configures the Data stack.
type DataProps struct {
	awscdk.StackProps
	// AvailabilityZones of the VPC, given explicitly (no lookup): two or three.
	AvailabilityZones []string
	// PostgresMajor is Aurora PostgreSQL's major version: 16 or 17.
	PostgresMajor int
	// Production turns on deletion protection, snapshots on deletion and a
	// 14-day backup retention (else 1 day, and the cluster goes with the stack).
	Production bool
	// MaxCapacity bounds Aurora Serverless v2 (ACUs, default 4; minimum 0.5).
	MaxCapacity float64
	// Cache adds the apps' shared cache: ElastiCache Serverless for Valkey, TLS
	// only, encrypted, in the isolated subnets, reachable only from
	// ClientSecurityGroup, with the user group the operator adds each app's user
	// to (RBAC: no shared password).
	Cache bool
	// Search adds the apps' search: an Amazon OpenSearch Service domain with
	// fine-grained access control over its internal user database (the
	// operator's OPENSEARCH_* admin manages each app's role and user through the
	// security plugin's REST API), HTTPS only, encrypted at rest and between
	// nodes, in the isolated subnets, reachable only from ClientSecurityGroup.
	Search bool
}

// CacheUserGroupID is the user group of the apps' cache: the operator's
// ELASTICACHE_USER_GROUP, and what its identity may modify.
const CacheUserGroupID = "plattr-apps"

// Check refuses settings the stack cannot honour.
func (p *DataProps) Check() error {
	if n := len(p.AvailabilityZones); n < 2 || n > 3 {
		return fmt.Errorf("AvailabilityZones: give two or three (Aurora needs subnets in two), got %d", n)
	}
	if p.PostgresMajor != 16 && p.PostgresMajor != 17 {
		return fmt.Errorf("PostgresMajor: 16 or 17, is %d", p.PostgresMajor)
	}
	if p.MaxCapacity != 0 && (p.MaxCapacity < 1 || p.MaxCapacity > 256) {
		return fmt.Errorf("MaxCapacity: between 1 and 256 ACUs, is %g", p.MaxCapacity)
	}
	return nil
}

// Data is the network and the database, and what the cluster stack and
// overlays/aws need of them.
type Data struct {
	awscdk.Stack
	Vpc awsec2.Vpc
	// ClientSecurityGroup is the one security group the database admits: give
	// it to the cluster's nodes (or pods).
	ClientSecurityGroup awsec2.SecurityGroup
	Database            awsrds.DatabaseCluster
	// Cache is the apps' cache (nil without DataProps.Cache).
	Cache awselasticache.CfnServerlessCache
	// Search is the apps' search domain (nil without DataProps.Search).
	Search awsopensearchservice.Domain
}

// NewData makes the Data stack: a VPC (public subnets for load balancers,
// private ones with NAT for the cluster, isolated ones for the database) and an
// Aurora PostgreSQL Serverless v2 cluster, encrypted, in the isolated subnets,
// reachable on 5432 only from ClientSecurityGroup, its master credentials in
// Secrets Manager.
func NewData(scope awscdk.App, id string, p DataProps) (*Data, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	if p.MaxCapacity == 0 {
		p.MaxCapacity = 4
	}
	stack := awscdk.NewStack(scope, jsii.String(id), &p.StackProps)
	d := &Data{Stack: stack}
	nat := 1.0
	if p.Production {
		nat = float64(len(p.AvailabilityZones)) // one per zone: a zone's failure does not cut the others off
	}
	d.Vpc = awsec2.NewVpc(stack, jsii.String("Vpc"), &awsec2.VpcProps{
		AvailabilityZones: jsii.Strings(p.AvailabilityZones...),
		NatGateways:       jsii.Number(nat),
		SubnetConfiguration: &[]*awsec2.SubnetConfiguration{
			{Name: jsii.String("public"), SubnetType: awsec2.SubnetType_PUBLIC, CidrMask: jsii.Number(24)},
			{Name: jsii.String("cluster"), SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS, CidrMask: jsii.Number(20)},
			{Name: jsii.String("data"), SubnetType: awsec2.SubnetType_PRIVATE_ISOLATED, CidrMask: jsii.Number(24)},
		},
	})
	d.ClientSecurityGroup = awsec2.NewSecurityGroup(stack, jsii.String("DatabaseClients"), &awsec2.SecurityGroupProps{
		Vpc: d.Vpc, Description: jsii.String("Plattr: who may reach the database (the cluster)"), AllowAllOutbound: jsii.Bool(true),
	})
	dbSG := awsec2.NewSecurityGroup(stack, jsii.String("Database"), &awsec2.SecurityGroupProps{
		Vpc: d.Vpc, Description: jsii.String("Plattr: the Aurora cluster"), AllowAllOutbound: jsii.Bool(false),
	})
	dbSG.AddIngressRule(d.ClientSecurityGroup, awsec2.Port_Tcp(jsii.Number(5432)), jsii.String("PostgreSQL from the cluster"), nil)

	engine := awsrds.AuroraPostgresEngineVersion_VER_16_9()
	if p.PostgresMajor == 17 {
		engine = awsrds.AuroraPostgresEngineVersion_VER_17_9()
	}
	retention, removal := 1.0, awscdk.RemovalPolicy_DESTROY
	if p.Production {
		retention, removal = 14, awscdk.RemovalPolicy_SNAPSHOT
	}
	d.Database = awsrds.NewDatabaseCluster(stack, jsii.String("Aurora"), &awsrds.DatabaseClusterProps{
		Engine:                  awsrds.DatabaseClusterEngine_AuroraPostgres(&awsrds.AuroraPostgresClusterEngineProps{Version: engine}),
		Writer:                  awsrds.ClusterInstance_ServerlessV2(jsii.String("writer"), &awsrds.ServerlessV2ClusterInstanceProps{PubliclyAccessible: jsii.Bool(false)}),
		ServerlessV2MinCapacity: jsii.Number(0.5),
		ServerlessV2MaxCapacity: jsii.Number(p.MaxCapacity),
		Credentials:             awsrds.Credentials_FromGeneratedSecret(jsii.String("postgres"), nil),
		StorageEncrypted:        jsii.Bool(true),
		IamAuthentication:       jsii.Bool(false),
		DeletionProtection:      jsii.Bool(p.Production),
		Backup:                  &awsrds.BackupProps{Retention: awscdk.Duration_Days(jsii.Number(retention))},
		RemovalPolicy:           removal,
		Vpc:                     d.Vpc,
		VpcSubnets:              &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_ISOLATED},
		SecurityGroups:          &[]awsec2.ISecurityGroup{dbSG},
		CopyTagsToSnapshot:      jsii.Bool(true),
	})
	if p.Cache {
		d.addCache(stack)
	}
	if p.Search {
		d.addSearch(stack, p)
	}
	awscdk.NewCfnOutput(stack, jsii.String("DatabaseEndpoint"), &awscdk.CfnOutputProps{Value: d.Database.ClusterEndpoint().Hostname()})
	awscdk.NewCfnOutput(stack, jsii.String("DatabaseSecretArn"), &awscdk.CfnOutputProps{Value: d.Database.Secret().SecretArn()})
	awscdk.NewCfnOutput(stack, jsii.String("ClientSecurityGroupId"), &awscdk.CfnOutputProps{Value: d.ClientSecurityGroup.SecurityGroupId()})
	return d, nil
}

// addCache makes the apps' cache: ElastiCache Serverless for Valkey with a user
// group whose only user is the required "default", switched off. The operator
// adds each app's user (ELASTICACHE_USER_GROUP).
func (d *Data) addCache(stack awscdk.Stack) {
	sg := awsec2.NewSecurityGroup(stack, jsii.String("Cache"), &awsec2.SecurityGroupProps{
		Vpc: d.Vpc, Description: jsii.String("Plattr: the cache of the apps"), AllowAllOutbound: jsii.Bool(false),
	})
	// Serverless caches answer on 6379 (primary) and 6380 (reads from replicas).
	sg.AddIngressRule(d.ClientSecurityGroup, awsec2.Port_TcpRange(jsii.Number(6379), jsii.Number(6380)), jsii.String("Valkey from the cluster"), nil)
	off := awselasticache.NewCfnUser(stack, jsii.String("CacheDefaultUser"), &awselasticache.CfnUserProps{
		UserId: jsii.String("plattr-default-off"), UserName: jsii.String("default"), Engine: jsii.String("valkey"),
		AccessString: jsii.String("off -@all"), NoPasswordRequired: jsii.Bool(true),
	})
	group := awselasticache.NewCfnUserGroup(stack, jsii.String("CacheUsers"), &awselasticache.CfnUserGroupProps{
		UserGroupId: jsii.String(CacheUserGroupID), Engine: jsii.String("valkey"), UserIds: jsii.Strings("plattr-default-off"),
	})
	group.AddDependency(off)
	var subnets []any
	for _, s := range *d.Vpc.IsolatedSubnets() {
		subnets = append(subnets, s.SubnetId())
	}
	d.Cache = awselasticache.NewCfnServerlessCache(stack, jsii.String("AppCache"), &awselasticache.CfnServerlessCacheProps{
		ServerlessCacheName: jsii.String("plattr-apps"), Engine: jsii.String("valkey"), MajorEngineVersion: jsii.String("8"),
		SubnetIds: &subnets, SecurityGroupIds: &[]any{sg.SecurityGroupId()}, UserGroupId: group.UserGroupId(),
		Description: jsii.String("Plattr: the apps' cache, one user per app (RBAC)"),
	})
	d.Cache.AddDependency(group)
	awscdk.NewCfnOutput(stack, jsii.String("CacheEndpoint"), &awscdk.CfnOutputProps{
		Value: awscdk.Fn_Join(jsii.String(":"), &[]*string{d.Cache.AttrEndpointAddress(), d.Cache.AttrEndpointPort()})})
	awscdk.NewCfnOutput(stack, jsii.String("CacheUserGroupId"), &awscdk.CfnOutputProps{Value: jsii.String(CacheUserGroupID)})
}

// addSearch makes the apps' search domain. Its master user (in the internal
// user database, its password generated into Secrets Manager) is the operator's
// OPENSEARCH_USERNAME/OPENSEARCH_PASSWORD. In production: three data nodes over
// the zones (zone awareness) and the domain kept when the stack goes; else one
// small node, deleted with the stack.
func (d *Data) addSearch(stack awscdk.Stack, p DataProps) {
	sg := awsec2.NewSecurityGroup(stack, jsii.String("Search"), &awsec2.SecurityGroupProps{
		Vpc: d.Vpc, Description: jsii.String("Plattr: the search domain of the apps"), AllowAllOutbound: jsii.Bool(false),
	})
	sg.AddIngressRule(d.ClientSecurityGroup, awsec2.Port_Tcp(jsii.Number(443)), jsii.String("HTTPS from the cluster"), nil)
	nodes, instance, removal := 1.0, "t3.small.search", awscdk.RemovalPolicy_DESTROY
	subnets := &[]*awsec2.SubnetSelection{{SubnetType: awsec2.SubnetType_PRIVATE_ISOLATED, OnePerAz: jsii.Bool(true)}}
	var zones *awsopensearchservice.ZoneAwarenessConfig
	if p.Production {
		nodes, instance, removal = float64(len(p.AvailabilityZones)), "m6g.large.search", awscdk.RemovalPolicy_RETAIN
		zones = &awsopensearchservice.ZoneAwarenessConfig{Enabled: jsii.Bool(true), AvailabilityZoneCount: jsii.Number(float64(len(p.AvailabilityZones)))}
	} else {
		first := (*d.Vpc.IsolatedSubnets())[0]
		subnets = &[]*awsec2.SubnetSelection{{Subnets: &[]awsec2.ISubnet{first}}}
	}
	admin := awssecretsmanager.NewSecret(stack, jsii.String("SearchAdmin"), &awssecretsmanager.SecretProps{
		Description: jsii.String("Plattr: the search domain's master user (the operator's OPENSEARCH_USERNAME/PASSWORD)"),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			SecretStringTemplate: jsii.String(`{"username":"plattr-admin"}`), GenerateStringKey: jsii.String("password"),
			PasswordLength: jsii.Number(32), ExcludePunctuation: jsii.Bool(true),
		},
	})
	d.Search = awsopensearchservice.NewDomain(stack, jsii.String("SearchDomain"), &awsopensearchservice.DomainProps{
		Version:              awsopensearchservice.EngineVersion_OPENSEARCH_2_19(),
		Capacity:             &awsopensearchservice.CapacityConfig{DataNodes: jsii.Number(nodes), DataNodeInstanceType: jsii.String(instance)},
		Ebs:                  &awsopensearchservice.EbsOptions{VolumeSize: jsii.Number(10)},
		ZoneAwareness:        zones,
		Vpc:                  d.Vpc,
		VpcSubnets:           subnets,
		SecurityGroups:       &[]awsec2.ISecurityGroup{sg},
		EnforceHttps:         jsii.Bool(true),
		TlsSecurityPolicy:    awsopensearchservice.TLSSecurityPolicy_TLS_1_2,
		NodeToNodeEncryption: jsii.Bool(true),
		EncryptionAtRest:     &awsopensearchservice.EncryptionAtRestOptions{Enabled: jsii.Bool(true)},
		FineGrainedAccessControl: &awsopensearchservice.AdvancedSecurityOptions{MasterUserName: jsii.String("plattr-admin"),
			MasterUserPassword: admin.SecretValueFromJson(jsii.String("password"))},
		RemovalPolicy: removal,
	})
	awscdk.NewCfnOutput(stack, jsii.String("SearchEndpoint"), &awscdk.CfnOutputProps{Value: d.Search.DomainEndpoint()})
	awscdk.NewCfnOutput(stack, jsii.String("SearchAdminSecretArn"), &awscdk.CfnOutputProps{Value: admin.SecretArn()})
}

package aws

import (
	"fmt"
	"regexp"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseks"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/jsii-runtime-go"
)

// The operator's Kubernetes identity, which its Pod Identity association names.
const (
	OperatorNamespace      = "plattr-system"
	OperatorServiceAccount = "plattr-operator"
	// KubernetesVersion is the EKS version the cluster runs by default.
	KubernetesVersion = "1.34"
)

// ClusterProps configures the Cluster stack: EKS in the Data stack's network,
// and the platform's identities.
type ClusterProps struct {
	awscdk.StackProps
	// Vpc and ClientSecurityGroup come from the Data stack: the nodes run in its
	// private subnets and carry the group the database (and cache) admit.
	Vpc                 awsec2.IVpc
	ClientSecurityGroup awsec2.ISecurityGroup
	// Name of the cluster (default "plattr").
	Name string
	// Version of Kubernetes (default KubernetesVersion).
	Version string
	// AdminPrincipalArns are the IAM roles (or users) of the platform team: each
	// gets an access entry with EKS's cluster-admin policy. Nobody else, the
	// stack's deployer included, is given access.
	AdminPrincipalArns []string
	// PublicAccessCidrs may reach the API server's public endpoint (default:
	// none, the endpoint is private to the VPC).
	PublicAccessCidrs []string
	// InstanceTypes of the managed node group (default t3.large), and its size.
	InstanceTypes             []string
	MinNodes, MaxNodes, Nodes float64
	// CacheUserGroupID, when the Data stack has the cache, is the user group the
	// operator may add users to (its identity's ElastiCache permissions).
	CacheUserGroupID string
	// HostedZoneID, when given, is the Route 53 zone of the apps' domain: the
	// ExternalDNS add-on (external-dns/external-dns) gets a role that may change
	// its records, and only its records.
	HostedZoneID string
	// Production turns on the cluster's deletion protection.
	Production bool
	// ExistingClusterName imports a cluster made elsewhere (it must run the EKS
	// Pod Identity agent): the stack then makes only the platform's identities
	// and their associations, and Vpc, ClientSecurityGroup and
	// AdminPrincipalArns are not used.
	ExistingClusterName string
}

// External Secrets Operator's Kubernetes identity (bases/addons/external-secrets
// names it), and the prefix of the apps' secrets its role may read.
const (
	ExternalSecretsNamespace      = "external-secrets"
	ExternalSecretsServiceAccount = "external-secrets"
	AppSecretsPrefix              = "plattr/"
)

// ExternalDNS's Kubernetes identity (bases/addons/external-dns names it).
const (
	ExternalDNSNamespace      = "external-dns"
	ExternalDNSServiceAccount = "external-dns"
)

var (
	principalArn = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[A-Za-z0-9+=,.@_/-]+$`)
	cidr         = regexp.MustCompile(`^([0-9]{1,3}\.){3}[0-9]{1,3}/([0-9]|[12][0-9]|3[0-2])$`)
	clusterName  = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]{0,99}$`)
	k8sVersion   = regexp.MustCompile(`^1\.[0-9]{2}$`)
	hostedZone   = regexp.MustCompile(`^Z[A-Z0-9]{1,31}$`)
)

// Check refuses props that would leave the cluster without an administrator,
// open it to the internet, or are malformed.
func (p *ClusterProps) Check() error {
	if p.HostedZoneID != "" && !hostedZone.MatchString(p.HostedZoneID) {
		return fmt.Errorf("HostedZoneID: %q is not a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ", p.HostedZoneID)
	}
	if p.ExistingClusterName != "" {
		if !clusterName.MatchString(p.ExistingClusterName) {
			return fmt.Errorf("ExistingClusterName: %q is not an EKS cluster name", p.ExistingClusterName)
		}
		return nil
	}
	if len(p.AdminPrincipalArns) == 0 {
		return fmt.Errorf("AdminPrincipalArns: name at least one IAM role of the platform team: without one, nobody can reach the cluster")
	}
	for _, a := range p.AdminPrincipalArns {
		if !principalArn.MatchString(a) {
			return fmt.Errorf("AdminPrincipalArns: %q is not an IAM role or user ARN (no wildcards)", a)
		}
	}
	for _, c := range p.PublicAccessCidrs {
		if !cidr.MatchString(c) || c == "0.0.0.0/0" {
			return fmt.Errorf("PublicAccessCidrs: %q is not an IPv4 range narrower than the internet (0.0.0.0/0 is refused)", c)
		}
	}
	if p.Name != "" && !clusterName.MatchString(p.Name) {
		return fmt.Errorf("Name: %q is not an EKS cluster name (a letter, then letters, digits and '-')", p.Name)
	}
	if p.Version != "" && !k8sVersion.MatchString(p.Version) {
		return fmt.Errorf("Version: %q is not a Kubernetes version such as %s", p.Version, KubernetesVersion)
	}
	if p.Vpc == nil || p.ClientSecurityGroup == nil {
		return fmt.Errorf("Vpc and ClientSecurityGroup: give the Data stack's")
	}
	return nil
}

// Cluster is the Cluster stack and what overlays/aws needs of it.
type Cluster struct {
	awscdk.Stack
	// EKS is the cluster the stack made (nil for an existing one).
	EKS          awseks.CfnCluster
	OperatorRole awsiam.Role
	// name and arn are the cluster's, made or imported.
	name, arn *string
}

// NewCluster makes the Cluster stack: an EKS cluster (access entries only, its
// Secrets encrypted with a key of its own, control-plane logs), a managed node
// group in the private subnets (IMDSv2 with one hop, so pods cannot borrow the
// node's role), the add-ons (Pod Identity agent, VPC CNI, CoreDNS, kube-proxy),
// and the operator's role, assumed through Pod Identity by
// plattr-system/plattr-operator only, allowed exactly what it uses.
func NewCluster(scope awscdk.App, id string, p ClusterProps) (*Cluster, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	if p.Name == "" {
		p.Name = "plattr"
	}
	if p.Version == "" {
		p.Version = KubernetesVersion
	}
	if len(p.InstanceTypes) == 0 {
		p.InstanceTypes = []string{"t3.large"}
	}
	if p.Nodes == 0 {
		p.MinNodes, p.Nodes, p.MaxNodes = 2, 2, 4
	}
	stack := awscdk.NewStack(scope, jsii.String(id), &p.StackProps)
	c := &Cluster{Stack: stack}
	if p.ExistingClusterName != "" {
		c.name = jsii.String(p.ExistingClusterName)
		c.arn = awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:eks:${AWS::Region}:${AWS::AccountId}:cluster/"+p.ExistingClusterName), nil)
		c.addIdentities(stack, p)
		return c, nil
	}

	clusterRole := awsiam.NewRole(stack, jsii.String("ClusterRole"), &awsiam.RoleProps{
		AssumedBy:       awsiam.NewServicePrincipal(jsii.String("eks.amazonaws.com"), nil),
		ManagedPolicies: &[]awsiam.IManagedPolicy{awsiam.ManagedPolicy_FromAwsManagedPolicyName(jsii.String("AmazonEKSClusterPolicy"))},
	})
	secretsKey := awskms.NewKey(stack, jsii.String("SecretsKey"), &awskms.KeyProps{
		EnableKeyRotation: jsii.Bool(true), Description: jsii.String("Plattr: encrypts the cluster's Secrets"),
	})
	var private []*string
	for _, s := range *p.Vpc.PrivateSubnets() {
		private = append(private, s.SubnetId())
	}
	c.EKS = awseks.NewCfnCluster(stack, jsii.String("Cluster"), &awseks.CfnClusterProps{
		Name: jsii.String(p.Name), Version: jsii.String(p.Version), RoleArn: clusterRole.RoleArn(),
		ResourcesVpcConfig: &awseks.CfnCluster_ResourcesVpcConfigProperty{
			SubnetIds: &private, EndpointPrivateAccess: jsii.Bool(true),
			EndpointPublicAccess: jsii.Bool(len(p.PublicAccessCidrs) > 0), PublicAccessCidrs: jsii.Strings(p.PublicAccessCidrs...),
		},
		AccessConfig: &awseks.CfnCluster_AccessConfigProperty{
			AuthenticationMode: jsii.String("API"), BootstrapClusterCreatorAdminPermissions: jsii.Bool(false),
		},
		EncryptionConfig: &[]any{&awseks.CfnCluster_EncryptionConfigProperty{
			Provider: &awseks.CfnCluster_ProviderProperty{KeyArn: secretsKey.KeyArn()}, Resources: jsii.Strings("secrets"),
		}},
		Logging: &awseks.CfnCluster_LoggingProperty{ClusterLogging: &awseks.CfnCluster_ClusterLoggingProperty{
			EnabledTypes: &[]any{
				&awseks.CfnCluster_LoggingTypeConfigProperty{Type: jsii.String("api")},
				&awseks.CfnCluster_LoggingTypeConfigProperty{Type: jsii.String("audit")},
				&awseks.CfnCluster_LoggingTypeConfigProperty{Type: jsii.String("authenticator")},
			},
		}},
		DeletionProtection: jsii.Bool(p.Production),
	})
	c.name, c.arn = c.EKS.Ref(), c.EKS.AttrArn()
	for i, arn := range p.AdminPrincipalArns {
		awseks.NewCfnAccessEntry(stack, jsii.String(fmt.Sprintf("Admin%d", i)), &awseks.CfnAccessEntryProps{
			ClusterName: c.EKS.Ref(), PrincipalArn: jsii.String(arn),
			AccessPolicies: &[]any{&awseks.CfnAccessEntry_AccessPolicyProperty{
				PolicyArn:   jsii.String("arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"),
				AccessScope: &awseks.CfnAccessEntry_AccessScopeProperty{Type: jsii.String("cluster")},
			}},
		})
	}
	c.addNodes(stack, p, private)
	for _, addon := range []string{"eks-pod-identity-agent", "vpc-cni", "coredns", "kube-proxy"} {
		awseks.NewCfnAddon(stack, jsii.String("Addon-"+addon), &awseks.CfnAddonProps{
			ClusterName: c.EKS.Ref(), AddonName: jsii.String(addon), ResolveConflicts: jsii.String("OVERWRITE"),
		})
	}
	c.addIdentities(stack, p)
	return c, nil
}

// addIdentities makes the platform's identities on the cluster, and the outputs.
func (c *Cluster) addIdentities(stack awscdk.Stack, p ClusterProps) {
	c.addOperatorIdentity(stack, p)
	c.addExternalSecretsIdentity(stack)
	if p.HostedZoneID != "" {
		c.addExternalDNSIdentity(stack, p.HostedZoneID)
	}
	awscdk.NewCfnOutput(stack, jsii.String("ClusterName"), &awscdk.CfnOutputProps{Value: c.name})
	awscdk.NewCfnOutput(stack, jsii.String("OperatorRoleArn"), &awscdk.CfnOutputProps{Value: c.OperatorRole.RoleArn()})
}

// addNodes makes the managed node group: private subnets, the cluster's own
// security group and the database clients' one, IMDSv2 limited to the node.
func (c *Cluster) addNodes(stack awscdk.Stack, p ClusterProps, subnets []*string) {
	nodeRole := awsiam.NewRole(stack, jsii.String("NodeRole"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("ec2.amazonaws.com"), nil),
		ManagedPolicies: &[]awsiam.IManagedPolicy{
			awsiam.ManagedPolicy_FromAwsManagedPolicyName(jsii.String("AmazonEKSWorkerNodePolicy")),
			awsiam.ManagedPolicy_FromAwsManagedPolicyName(jsii.String("AmazonEKS_CNI_Policy")),
			awsiam.ManagedPolicy_FromAwsManagedPolicyName(jsii.String("AmazonEC2ContainerRegistryReadOnly")),
		},
	})
	lt := awsec2.NewCfnLaunchTemplate(stack, jsii.String("NodeTemplate"), &awsec2.CfnLaunchTemplateProps{
		LaunchTemplateData: &awsec2.CfnLaunchTemplate_LaunchTemplateDataProperty{
			SecurityGroupIds: jsii.Strings(*c.EKS.AttrClusterSecurityGroupId(), *p.ClientSecurityGroup.SecurityGroupId()),
			MetadataOptions: &awsec2.CfnLaunchTemplate_MetadataOptionsProperty{
				HttpTokens: jsii.String("required"), HttpPutResponseHopLimit: jsii.Number(1),
			},
		},
	})
	awseks.NewCfnNodegroup(stack, jsii.String("Nodes"), &awseks.CfnNodegroupProps{
		ClusterName: c.EKS.Ref(), NodeRole: nodeRole.RoleArn(), Subnets: toAny(subnets),
		InstanceTypes: jsii.Strings(p.InstanceTypes...), AmiType: jsii.String("AL2023_x86_64_STANDARD"),
		ScalingConfig:  &awseks.CfnNodegroup_ScalingConfigProperty{MinSize: jsii.Number(p.MinNodes), DesiredSize: jsii.Number(p.Nodes), MaxSize: jsii.Number(p.MaxNodes)},
		LaunchTemplate: &awseks.CfnNodegroup_LaunchTemplateSpecificationProperty{Id: lt.Ref(), Version: lt.AttrLatestVersionNumber()},
	})
}

// podIdentityTrust is the trust of a role assumed through EKS Pod Identity in
// this account, for this cluster only.
func (c *Cluster) podIdentityTrust(stack awscdk.Stack) awsiam.IPrincipal {
	return awsiam.NewSessionTagsPrincipal(awsiam.NewServicePrincipal(jsii.String("pods.eks.amazonaws.com"), nil).WithConditions(&map[string]any{
		"StringEquals": map[string]any{"aws:SourceAccount": stack.Account()},
		"ArnEquals":    map[string]any{"aws:SourceArn": c.arn},
	}))
}

// addExternalSecretsIdentity gives External Secrets Operator a role that may
// read the apps' secrets, under plattr/ in Secrets Manager, and nothing else;
// the operator composes each app's keys under plattr/<env>/<app>/.
func (c *Cluster) addExternalSecretsIdentity(stack awscdk.Stack) {
	role := awsiam.NewRole(stack, jsii.String("ExternalSecretsRole"), &awsiam.RoleProps{
		AssumedBy:   c.podIdentityTrust(stack),
		Description: jsii.String("Plattr: External Secrets Operator (external-secrets/external-secrets), through EKS Pod Identity"),
	})
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("AppSecrets"),
		Actions:   jsii.Strings("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"),
		Resources: &[]*string{awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"+AppSecretsPrefix+"*"), nil)},
	}))
	awseks.NewCfnPodIdentityAssociation(stack, jsii.String("ExternalSecretsPodIdentity"), &awseks.CfnPodIdentityAssociationProps{
		ClusterName: c.name, Namespace: jsii.String(ExternalSecretsNamespace), ServiceAccount: jsii.String(ExternalSecretsServiceAccount),
		RoleArn: role.RoleArn(),
	})
}

// addExternalDNSIdentity gives ExternalDNS a role that may change the records of
// one hosted zone (listing zones cannot be narrowed in IAM).
func (c *Cluster) addExternalDNSIdentity(stack awscdk.Stack, zone string) {
	role := awsiam.NewRole(stack, jsii.String("ExternalDNSRole"), &awsiam.RoleProps{
		AssumedBy:   c.podIdentityTrust(stack),
		Description: jsii.String("Plattr: ExternalDNS (external-dns/external-dns), through EKS Pod Identity"),
	})
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("AppRecords"),
		Actions:   jsii.Strings("route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets", "route53:ListTagsForResources"),
		Resources: &[]*string{awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:route53:::hostedzone/"+zone), nil)},
	}))
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: jsii.String("ListZones"), Actions: jsii.Strings("route53:ListHostedZones"), Resources: jsii.Strings("*"),
	}))
	awseks.NewCfnPodIdentityAssociation(stack, jsii.String("ExternalDNSPodIdentity"), &awseks.CfnPodIdentityAssociationProps{
		ClusterName: c.name, Namespace: jsii.String(ExternalDNSNamespace), ServiceAccount: jsii.String(ExternalDNSServiceAccount),
		RoleArn: role.RoleArn(),
	})
}

// addOperatorIdentity makes the operator's role: trusted by EKS Pod Identity in
// this account for this cluster only, associated with
// plattr-system/plattr-operator, allowed to manage the users of the apps' cache
// (users named plattr-*, the cache's user group) and nothing else.
func (c *Cluster) addOperatorIdentity(stack awscdk.Stack, p ClusterProps) {
	c.OperatorRole = awsiam.NewRole(stack, jsii.String("OperatorRole"), &awsiam.RoleProps{
		AssumedBy:   c.podIdentityTrust(stack),
		Description: jsii.String("Plattr: the operator (plattr-system/plattr-operator), through EKS Pod Identity"),
	})
	if p.CacheUserGroupID != "" {
		arn := func(kind, name string) *string {
			return awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:elasticache:${AWS::Region}:${AWS::AccountId}:"+kind+":"+name), nil)
		}
		c.OperatorRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("AppCacheUsers"),
			Actions:   jsii.Strings("elasticache:CreateUser", "elasticache:ModifyUser", "elasticache:DeleteUser", "elasticache:DescribeUsers"),
			Resources: &[]*string{arn("user", "plattr-*")},
		}))
		c.OperatorRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("AppCacheUserGroup"),
			Actions:   jsii.Strings("elasticache:ModifyUserGroup", "elasticache:DescribeUserGroups"),
			Resources: &[]*string{arn("usergroup", p.CacheUserGroupID)},
		}))
	}
	awseks.NewCfnPodIdentityAssociation(stack, jsii.String("OperatorPodIdentity"), &awseks.CfnPodIdentityAssociationProps{
		ClusterName: c.name, Namespace: jsii.String(OperatorNamespace), ServiceAccount: jsii.String(OperatorServiceAccount),
		RoleArn: c.OperatorRole.RoleArn(),
	})
}

func toAny(s []*string) *[]any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return &out
}

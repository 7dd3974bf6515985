package aws

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

// Config is plattr-aws.json: the account, the region and each stack's settings.
type Config struct {
	Account string `json:"account"`
	Region  string `json:"region"`
	// Delivery is left out in the account of a spoke (prod in a cluster of
	// its own), whose images come from the hub's registries.
	Delivery *DeliveryConfig `json:"delivery,omitempty"`
	Data     *DataConfig     `json:"data,omitempty"`
	Cluster  *ClusterConfig  `json:"cluster,omitempty"`
}

// ClusterConfig is the Cluster stack's part of Config (it needs data's network).
type ClusterConfig struct {
	Name               string   `json:"name,omitempty"`
	Version            string   `json:"version,omitempty"`
	AdminPrincipalArns []string `json:"adminPrincipalArns"`
	PublicAccessCidrs  []string `json:"publicAccessCidrs,omitempty"`
	InstanceTypes      []string `json:"instanceTypes,omitempty"`
	MinNodes           float64  `json:"minNodes,omitempty"`
	Nodes              float64  `json:"nodes,omitempty"`
	MaxNodes           float64  `json:"maxNodes,omitempty"`
	HostedZoneID       string   `json:"hostedZoneId,omitempty"`
	ExistingName       string   `json:"existingClusterName,omitempty"`
	Production         bool     `json:"production,omitempty"`
}

// DataConfig is the Data stack's part of Config (no data stack without it).
type DataConfig struct {
	AvailabilityZones []string `json:"availabilityZones"`
	PostgresMajor     int      `json:"postgresMajor"`
	Production        bool     `json:"production,omitempty"`
	MaxCapacity       float64  `json:"maxCapacity,omitempty"`
	Cache             bool     `json:"cache,omitempty"`
	Search            bool     `json:"search,omitempty"`
}

// DeliveryConfig is the Delivery stack's part of Config.
type DeliveryConfig struct {
	AppRepos                []string `json:"appRepos"`
	AppBranches             []string `json:"appBranches,omitempty"`
	PlattrRepo              string   `json:"plattrRepo"`
	AppImagePrefix          string   `json:"appImagePrefix,omitempty"`
	ExistingOIDCProviderArn string   `json:"existingOidcProviderArn,omitempty"`
}

var (
	account = regexp.MustCompile(`^[0-9]{12}$`)
	region  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]$`)
)

// ReadConfig reads plattr-aws.json strictly: unknown fields are mistakes.
func ReadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if !account.MatchString(c.Account) {
		return nil, fmt.Errorf("%s: account must be a 12-digit AWS account id, is %q", path, c.Account)
	}
	if !region.MatchString(c.Region) {
		return nil, fmt.Errorf("%s: region must be an AWS region such as eu-west-1, is %q", path, c.Region)
	}
	return &c, nil
}

// SynthFile writes the templates of the stacks config names into out and
// returns their paths: no AWS credentials, no lookups.
func SynthFile(config, out string) ([]string, error) {
	c, err := ReadConfig(config)
	if err != nil {
		return nil, err
	}
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(out)})
	env := &awscdk.Environment{Account: jsii.String(c.Account), Region: jsii.String(c.Region)}
	if d := c.Delivery; d != nil {
		if _, err := NewDelivery(app, "PlattrDelivery", DeliveryProps{StackProps: awscdk.StackProps{Env: env},
			AppRepos: d.AppRepos, AppBranches: d.AppBranches, PlattrRepo: d.PlattrRepo, AppImagePrefix: d.AppImagePrefix,
			ExistingOIDCProviderArn: d.ExistingOIDCProviderArn}); err != nil {
			return nil, fmt.Errorf("%s: delivery: %w", config, err)
		}
	}
	var data *Data
	if dc := c.Data; dc != nil {
		if data, err = NewData(app, "PlattrData", DataProps{StackProps: awscdk.StackProps{Env: env},
			AvailabilityZones: dc.AvailabilityZones, PostgresMajor: dc.PostgresMajor, Production: dc.Production,
			MaxCapacity: dc.MaxCapacity, Cache: dc.Cache, Search: dc.Search}); err != nil {
			return nil, fmt.Errorf("%s: data: %w", config, err)
		}
	}
	if cc := c.Cluster; cc != nil {
		if data == nil && cc.ExistingName == "" {
			return nil, fmt.Errorf("%s: cluster: needs the data section (the cluster runs in its network), or existingClusterName", config)
		}
		group := ""
		if c.Data != nil && c.Data.Cache {
			group = CacheUserGroupID
		}
		props := ClusterProps{StackProps: awscdk.StackProps{Env: env}, ExistingClusterName: cc.ExistingName, Name: cc.Name,
			Version: cc.Version, AdminPrincipalArns: cc.AdminPrincipalArns, PublicAccessCidrs: cc.PublicAccessCidrs,
			InstanceTypes: cc.InstanceTypes, MinNodes: cc.MinNodes, Nodes: cc.Nodes, MaxNodes: cc.MaxNodes,
			CacheUserGroupID: group, HostedZoneID: cc.HostedZoneID, Production: cc.Production}
		if data != nil {
			props.Vpc, props.ClientSecurityGroup = data.Vpc, data.ClientSecurityGroup
		}
		if _, err := NewCluster(app, "PlattrCluster", props); err != nil {
			return nil, fmt.Errorf("%s: cluster: %w", config, err)
		}
	}
	asm := app.Synth(nil)
	var files []string
	for _, s := range *asm.Stacks() {
		files = append(files, filepath.Join(out, *s.TemplateFile()))
	}
	return files, nil
}

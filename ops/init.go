package ops

import (
	"bytes"
	"fmt"

	"github.com/plattr/plattr/envfiles"
	"github.com/plattr/plattr/generator"
)

// Init makes a new env repo's skeleton (env init).
type Init struct {
	config *generator.Config
	files  envfiles.Files
}

// InitOption adds to what env init writes.
type InitOption func(*generator.Config, envfiles.Files)

// WithWorkflow writes the env repo's workflow (generator.WorkflowPath),
// calling Plattr's reusable env workflow at uses.
func WithWorkflow(uses string) InitOption {
	return func(cfg *generator.Config, files envfiles.Files) {
		files[generator.WorkflowPath] = generator.EnvWorkflow(cfg, uses)
	}
}

// NewInit checks the settings (as generator.InitRepo) before any repository is
// touched.
func NewInit(cfg *generator.Config, opts ...InitOption) (*Init, error) {
	files, err := generator.InitRepo(cfg)
	if err != nil {
		return nil, err
	}
	for _, o := range opts {
		o(cfg, files)
	}
	return &Init{config: cfg, files: files}, nil
}

// Plan writes the skeleton; a repository initialised with the same settings
// needs nothing, one initialised with others is refused.
func (i *Init) Plan(tree envfiles.Tree) (Plan, error) {
	existing, err := tree.ReadFile(generator.ConfigFile)
	if err == nil && !bytes.Equal(existing, i.files[generator.ConfigFile]) {
		return Plan{}, fmt.Errorf("the env repo is already initialised with other settings: edit %s there instead", generator.ConfigFile)
	}
	return Plan{Files: i.files, Message: initMessage(i.config)}, nil
}

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

// NewInit checks the settings (as generator.InitRepo) before any repository is
// touched.
func NewInit(cfg *generator.Config) (*Init, error) {
	files, err := generator.InitRepo(cfg)
	if err != nil {
		return nil, err
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

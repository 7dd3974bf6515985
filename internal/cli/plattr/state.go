package plattr

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/plattr/plattr/operator/services"
)

// state is what `plattr dev` keeps between runs: the credentials each service
// handed the app, keyed "<service>@<server>", so that the next run passes them to
// Ensure as current and passwords do not rotate. It lives in the user's cache
// folder, readable by the user only, one file per app and environment (the names
// the services are made under).
type state struct {
	path  string
	Creds map[string]services.Credentials `json:"credentials"`
}

// stateDir is $XDG_CACHE_HOME/plattr/dev (or the platform's cache folder).
func stateDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find a folder for the credentials of plattr dev: %w (set XDG_CACHE_HOME)", err)
	}
	return filepath.Join(dir, "plattr", "dev"), nil
}

func openState(app, env string) (*state, error) {
	dir, err := stateDir()
	if err != nil {
		return nil, err
	}
	s := &state{path: filepath.Join(dir, env+"_"+app+".json"), Creds: map[string]services.Credentials{}}
	data, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the credentials of plattr dev: %w", err)
	}
	if err := json.Unmarshal(data, s); err != nil {
		return nil, fmt.Errorf("read %s: not the JSON plattr dev writes (%v): delete the file; plattr dev then makes new passwords", s.path, err)
	}
	if s.Creds == nil {
		s.Creds = map[string]services.Credentials{}
	}
	return s, nil
}

// save writes the state atomically with mode 0600, or removes the file when
// nothing is left to keep.
func (s *state) save() error {
	if len(s.Creds) == 0 {
		if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", s.path, err)
		}
		return nil
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("keep the credentials of plattr dev: %w", err)
	}
	f, err := os.CreateTemp(dir, ".state-*") // created with mode 0600
	if err != nil {
		return fmt.Errorf("keep the credentials of plattr dev: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	if err := os.Rename(f.Name(), s.path); err != nil {
		return fmt.Errorf("keep the credentials of plattr dev: %w", err)
	}
	return nil
}

package spirals

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"os"

	"github.com/gosde/gosde/internal/ctxvars"
	"github.com/gosde/gosde/pkg/plotting"
)

// checkpointFile is the on-disk form of a learner: the model's sizes, the
// step count and every context variable (weights, Adam's moments and step).
type checkpointFile struct {
	Model ModelConfig
	Steps int
	Vars  []ctxvars.Var
}

// Save writes the learner's state to path atomically (a temporary file in
// the same directory, then a rename).
func (l *Learner) Save(path string) error {
	vars, err := ctxvars.Snapshot(l.ctx)
	if err != nil {
		return fmt.Errorf("spirals.Save: %w", err)
	}
	ck := checkpointFile{Model: l.Model.cfg, Steps: l.steps, Vars: vars}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(ck); err != nil {
		return fmt.Errorf("spirals.Save: %w", err)
	}
	if err := plotting.WriteFileAtomic(path, buf.Bytes()); err != nil {
		return fmt.Errorf("spirals.Save: %w", err)
	}
	return nil
}

// Load restores a checkpoint written by Save into the learner (whose model
// must have the same sizes), creating or overwriting its variables.
func (l *Learner) Load(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("spirals.Load: %w", err)
	}
	var ck checkpointFile
	if err := gob.NewDecoder(bytes.NewReader(raw)).Decode(&ck); err != nil {
		return fmt.Errorf("spirals.Load: %s: %w", path, err)
	}
	if ck.Model != l.Model.cfg {
		return fmt.Errorf("spirals.Load: %s holds a model %+v, this learner's is %+v", path, ck.Model, l.Model.cfg)
	}
	if err := ctxvars.Restore(l.ctx, ck.Vars); err != nil {
		return fmt.Errorf("spirals.Load: %s: %w", path, err)
	}
	l.steps = ck.Steps
	return nil
}

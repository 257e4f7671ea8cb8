package spirals

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"os"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/gosde/gosde/pkg/plotting"
)

// checkpointFile is the on-disk form of a learner: the model's sizes, the
// step count and every context variable (weights, Adam's moments and step).
type checkpointFile struct {
	Model ModelConfig
	Steps int
	Vars  []checkpointVar
}

type checkpointVar struct {
	Scope, Name string
	Trainable   bool
	DType       int
	Dims        []int
	Data        []byte
}

// Save writes the learner's state to path atomically (a temporary file in
// the same directory, then a rename).
func (l *Learner) Save(path string) error {
	ck := checkpointFile{Model: l.Model.cfg, Steps: l.steps}
	for v := range l.ctx.IterVariables() {
		val, err := v.Value()
		if err != nil {
			return fmt.Errorf("spirals.Save: variable %s: %w", v.ScopeAndName(), err)
		}
		cv := checkpointVar{Scope: v.Scope(), Name: v.Name(), Trainable: v.Trainable, DType: int(val.DType()), Dims: val.Shape().Dimensions}
		if err := val.ConstBytes(func(b []byte) { cv.Data = append([]byte(nil), b...) }); err != nil {
			return fmt.Errorf("spirals.Save: variable %s: %w", v.ScopeAndName(), err)
		}
		ck.Vars = append(ck.Vars, cv)
	}
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
	for _, cv := range ck.Vars {
		val := tensors.FromShape(shapes.Make(dtypes.DType(cv.DType), cv.Dims...))
		size := 0
		if err := val.MutableBytes(func(b []byte) { size = copy(b, cv.Data) }); err != nil {
			return fmt.Errorf("spirals.Load: variable %s/%s: %w", cv.Scope, cv.Name, err)
		}
		if size != len(cv.Data) {
			return fmt.Errorf("spirals.Load: variable %s/%s: %d bytes for shape %s", cv.Scope, cv.Name, len(cv.Data), val.Shape())
		}
		if v := l.ctx.GetVariableByScopeAndName(cv.Scope, cv.Name); v != nil {
			if !v.Shape().Equal(val.Shape()) {
				return fmt.Errorf("spirals.Load: variable %s/%s is %s in %s but %s in the model", cv.Scope, cv.Name, val.Shape(), path, v.Shape())
			}
			if err := v.SetValue(val); err != nil {
				return fmt.Errorf("spirals.Load: %w", err)
			}
			continue
		}
		l.ctx.InAbsPath(cv.Scope).Checked(false).VariableWithValue(cv.Name, val).SetTrainable(cv.Trainable)
	}
	l.steps = ck.Steps
	return nil
}

// Package ctxvars copies the variables of a GoMLX context to and from a plain
// form (scope, name, dtype, dimensions, bytes): internal/checkpoint writes it
// into gosde's one checkpoint format.
package ctxvars

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Var is one context variable: where it lives, whether it is trained, its
// dtype (a dtypes.DType), dimensions and raw bytes.
type Var struct {
	Scope, Name string
	Trainable   bool
	DType       int
	Dims        []int
	Data        []byte
}

// Snapshot returns a copy of every variable of ctx (weights, optimiser
// moments, the global step).
func Snapshot(ctx *context.Context) ([]Var, error) {
	var vars []Var
	for v := range ctx.IterVariables() {
		val, err := v.Value()
		if err != nil {
			return nil, fmt.Errorf("variable %s: %w", v.ScopeAndName(), err)
		}
		sv := Var{Scope: v.Scope(), Name: v.Name(), Trainable: v.Trainable, DType: int(val.DType()), Dims: val.Shape().Dimensions}
		if err := val.ConstBytes(func(b []byte) { sv.Data = append([]byte(nil), b...) }); err != nil {
			return nil, fmt.Errorf("variable %s: %w", v.ScopeAndName(), err)
		}
		vars = append(vars, sv)
	}
	return vars, nil
}

// Check returns an error naming v when its dtype is not one a tensor can
// hold, a dimension is negative, or its bytes do not fill its shape exactly.
func (v Var) Check() error {
	dt := dtypes.DType(v.DType)
	if !KnownDType(dt) {
		return fmt.Errorf("variable %s/%s: dtype %d is not a supported tensor dtype", v.Scope, v.Name, v.DType)
	}
	size := dt.Size()
	for _, d := range v.Dims {
		if d < 0 {
			return fmt.Errorf("variable %s/%s: negative dimension in %v", v.Scope, v.Name, v.Dims)
		}
		if d > 0 && size > math.MaxInt/d {
			return fmt.Errorf("variable %s/%s: dimensions %v overflow", v.Scope, v.Name, v.Dims)
		}
		size *= d
	}
	if size != len(v.Data) {
		return fmt.Errorf("variable %s/%s: %d bytes for %s%v (%d bytes)", v.Scope, v.Name, len(v.Data), dt, v.Dims, size)
	}
	return nil
}

// KnownDType reports whether dt is a whole-byte dtype a variable may have
// (bool, the signed and unsigned integers, the floats and complexes).
func KnownDType(dt dtypes.DType) bool {
	return (dt.IsSupported() || dt == dtypes.Uint64) && dt.Size() > 0
}

// Restore sets the variables of ctx to vars, creating those ctx lacks. A
// variable whose bytes do not fill its shape, or whose shape differs from
// the one in ctx, is an error naming it; then no variable is changed.
func Restore(ctx *context.Context, vars []Var) error {
	vals := make([]*tensors.Tensor, len(vars))
	for i, sv := range vars {
		if err := sv.Check(); err != nil {
			return err
		}
		val := tensors.FromShape(shapes.Make(dtypes.DType(sv.DType), sv.Dims...))
		size := 0
		if err := val.MutableBytes(func(b []byte) { size = len(b); copy(b, sv.Data) }); err != nil {
			return fmt.Errorf("variable %s/%s: %w", sv.Scope, sv.Name, err)
		}
		if size != len(sv.Data) {
			return fmt.Errorf("variable %s/%s: %d bytes for shape %s (%d bytes)", sv.Scope, sv.Name, len(sv.Data), val.Shape(), size)
		}
		if v := ctx.GetVariableByScopeAndName(sv.Scope, sv.Name); v != nil && !v.Shape().Equal(val.Shape()) {
			return fmt.Errorf("variable %s/%s has shape %s in the checkpoint, %s in the model", sv.Scope, sv.Name, val.Shape(), v.Shape())
		}
		vals[i] = val
	}
	for i, sv := range vars {
		if v := ctx.GetVariableByScopeAndName(sv.Scope, sv.Name); v != nil {
			if err := v.SetValue(vals[i]); err != nil {
				return fmt.Errorf("variable %s/%s: %w", sv.Scope, sv.Name, err)
			}
			continue
		}
		ctx.InAbsPath(sv.Scope).Checked(false).VariableWithValue(sv.Name, vals[i]).SetTrainable(sv.Trainable)
	}
	return nil
}

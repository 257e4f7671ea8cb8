package diffeq

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// ScalarTensor returns v as a scalar tensor of dtype (Float32 or Float64).
func ScalarTensor(dtype dtypes.DType, v float64) *tensors.Tensor {
	if dtype == dtypes.Float32 {
		return tensors.FromScalar(float32(v))
	}
	return tensors.FromScalar(v)
}

// FromFloat64s returns a tensor of dtype (Float32 or Float64) with the given
// flat values and dimensions.
func FromFloat64s(dtype dtypes.DType, data []float64, dims ...int) *tensors.Tensor {
	if dtype == dtypes.Float32 {
		f := make([]float32, len(data))
		for i, v := range data {
			f[i] = float32(v)
		}
		return tensors.FromFlatDataAndDimensions(f, dims...)
	}
	return tensors.FromFlatDataAndDimensions(append([]float64(nil), data...), dims...)
}

// Float64s returns the values of a Float32 or Float64 tensor as float64s.
func Float64s(t *tensors.Tensor) ([]float64, error) {
	switch t.DType() {
	case dtypes.Float64:
		return tensors.CopyFlatData[float64](t)
	case dtypes.Float32:
		f, err := tensors.CopyFlatData[float32](t)
		if err != nil {
			return nil, err
		}
		out := make([]float64, len(f))
		for i, v := range f {
			out[i] = float64(v)
		}
		return out, nil
	}
	return nil, fmt.Errorf("diffeq: want a Float32 or Float64 tensor, got %s", t.DType())
}

// checkState checks that z0, named name in errors, is a finite (batch, d)
// tensor of Float32 or Float64.
func checkState(name string, z0 *tensors.Tensor) error {
	if z0 == nil {
		return fmt.Errorf("%s is nil", name)
	}
	if dt := z0.DType(); dt != dtypes.Float32 && dt != dtypes.Float64 {
		return fmt.Errorf("%s must be Float32 or Float64, got %s", name, dt)
	}
	if z0.Shape().Rank() != 2 {
		return fmt.Errorf("%s must be shaped (batch, d), got %s", name, z0.Shape())
	}
	v, err := Float64s(z0)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return CheckFinite(name, v)
}

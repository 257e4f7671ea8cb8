package diffeq

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Stacked returns the states at the save times as one tensor shaped
// (len(Ts), batch, d) — the layout torchdiffeq's odeint and torchsde's
// sdeint return — in the states' dtype.
func (s *Solution) Stacked() (*tensors.Tensor, error) {
	if s == nil || len(s.Ys) == 0 {
		return nil, fmt.Errorf("diffeq.Solution.Stacked: the solution holds no states")
	}
	first := s.Ys[0].Shape()
	data := make([]float64, 0, len(s.Ys)*first.Size())
	for i, y := range s.Ys {
		if !y.Shape().Equal(first) {
			return nil, fmt.Errorf("diffeq.Solution.Stacked: Ys[%d] is shaped %s, Ys[0] %s", i, y.Shape(), first)
		}
		v, err := Float64s(y)
		if err != nil {
			return nil, fmt.Errorf("diffeq.Solution.Stacked: Ys[%d]: %w", i, err)
		}
		data = append(data, v...)
	}
	return FromFloat64s(first.DType, data, append([]int{len(s.Ys)}, first.Dimensions...)...), nil
}

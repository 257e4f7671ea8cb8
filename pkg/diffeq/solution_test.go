package diffeq_test

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/diffeq"
)

// Stacked lays the states of a solve of dz/dt = −z out as (T, batch, d):
// entry [i, b, j] is z0[b, j]·e^{−ts[i]} to RK4's accuracy, and a solution
// whose states differ in shape is refused.
func TestSolutionStacked(t *testing.T) {
	f := func(_ *context.Context, _, z *graph.Node) *graph.Node { return graph.Neg(z) }
	s, err := diffeq.NewODESolver(backend.Shared(), nil, f, diffeq.Options{Method: diffeq.RK4, Dt: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	z0 := []float64{1, 2, -3, 0.5, 4, 7}
	ts := []float64{0, 0.5, 1, 2}
	sol, err := s.Solve(diffeq.FromFloat64s(dtypes.Float64, z0, 2, 3), ts)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sol.Stacked()
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Shape().Dimensions; len(got) != 3 || got[0] != 4 || got[1] != 2 || got[2] != 3 {
		t.Fatalf("shape %v, want [4 2 3]", got)
	}
	v, _ := diffeq.Float64s(st)
	for i, ti := range ts {
		for k, z := range z0 {
			if want := z * math.Exp(-ti); math.Abs(v[i*6+k]-want) > 1e-9 {
				t.Errorf("[%d, %d, %d] = %.12g, want %.12g", i, k/3, k%3, v[i*6+k], want)
			}
		}
	}
	sol.Ys[1] = diffeq.FromFloat64s(dtypes.Float64, z0, 3, 2)
	if _, err := sol.Stacked(); err == nil {
		t.Error("states of different shapes stacked")
	}
}

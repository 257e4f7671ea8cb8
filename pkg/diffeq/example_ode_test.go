package diffeq_test

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/diffeq"
)

// Solve exponential decay dz/dt = -z with Dopri5 and compare with e^{-t}.
func ExampleODESolver() {
	decay := func(ctx *context.Context, t, z *graph.Node) *graph.Node { return graph.Neg(z) }
	solver, err := diffeq.NewODESolver(backend.MustNew(), context.New(), decay,
		diffeq.Options{Method: diffeq.Dopri5, RTol: 1e-8, ATol: 1e-10})
	if err != nil {
		panic(err)
	}
	sol, err := solver.Solve(tensors.FromValue([][]float64{{1}}), []float64{0, 1, 2})
	if err != nil {
		panic(err)
	}
	for i, y := range sol.Ys {
		v, _ := diffeq.Float64s(y)
		fmt.Printf("t=%g z=%.6f exact=%.6f\n", sol.Ts[i], v[0], math.Exp(-sol.Ts[i]))
	}
	// Output:
	// t=0 z=1.000000 exact=1.000000
	// t=1 z=0.367879 exact=0.367879
	// t=2 z=0.135335 exact=0.135335
}

package adjoint_test

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/adjoint"
	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/diffeq"
)

// The continuous adjoint of dz/dt = θz with L = z(1): z(1) = z0·e^θ, so
// dL/dz0 = e^θ and dL/dθ = z0·e^θ.
func ExampleODE() {
	ctx := context.New()
	f := func(ctx *context.Context, t, z *graph.Node) *graph.Node {
		return graph.Mul(z, ctx.VariableWithValue("theta", 0.5).ValueGraph(z.Graph()))
	}
	a, err := adjoint.NewODE(backend.MustNew(), ctx, f, adjoint.Options{
		Solver: diffeq.Options{Method: diffeq.Dopri5, RTol: 1e-10, ATol: 1e-10}})
	if err != nil {
		panic(err)
	}
	z0 := tensors.FromValue([][]float64{{2}})
	tr, err := a.Forward(z0, []float64{0, 1})
	if err != nil {
		panic(err)
	}
	g, err := a.Backward(tr, []*tensors.Tensor{nil, tensors.FromValue([][]float64{{1}})})
	if err != nil {
		panic(err)
	}
	dz0, _ := diffeq.Float64s(g.Z0)
	dth, _ := diffeq.Float64s(g.Params[0])
	fmt.Printf("dL/dz0 = %.6f (exact %.6f)\n", dz0[0], math.Exp(0.5))
	fmt.Printf("dL/dθ  = %.6f (exact %.6f), variable %s\n", dth[0], 2*math.Exp(0.5), g.Vars[0].Name())
	// Output:
	// dL/dz0 = 1.648721 (exact 1.648721)
	// dL/dθ  = 3.297443 (exact 3.297443), variable theta
}

package diffeq_test

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/diffeq"
)

// Solve the Ornstein–Uhlenbeck SDE dz = θ(μ − z) dt + σ dW for 10,000 paths
// with Euler–Maruyama and compare the mean at T = 1 with the closed form
// μ + (z0 − μ)e^{−θT}. The Brownian motion's seed fixes the result.
func ExampleSDESolver() {
	const theta, mu, sigma, z0, paths = 1.0, 0.5, 0.3, 2.0, 10000
	ou := diffeq.SDE{
		Drift: func(_ *context.Context, _, z *graph.Node) *graph.Node {
			return graph.MulScalar(graph.AddScalar(graph.Neg(z), mu), theta)
		},
		Diffusion: func(_ *context.Context, _, z *graph.Node) *graph.Node {
			return graph.MulScalar(graph.OnesLike(z), sigma)
		},
		Noise: diffeq.Diagonal,
		Type:  diffeq.Ito,
	}
	solver, err := diffeq.NewSDESolver(backend.MustNew(), context.New(), ou,
		diffeq.Options{Method: diffeq.EulerMaruyama, Dt: 0.01})
	if err != nil {
		panic(err)
	}
	bm, err := diffeq.NewBrownian(2024, 0, 1, 0.01, paths, 1, dtypes.Float64)
	if err != nil {
		panic(err)
	}
	start := make([]float64, paths)
	for i := range start {
		start[i] = z0
	}
	sol, err := solver.Solve(tensors.FromFlatDataAndDimensions(start, paths, 1), []float64{0, 1}, bm)
	if err != nil {
		panic(err)
	}
	zT, _ := diffeq.Float64s(sol.Ys[1])
	var mean float64
	for _, v := range zT {
		mean += v / paths
	}
	fmt.Printf("steps=%d mean=%.2f exact=%.2f\n", sol.Steps, mean, mu+(z0-mu)*math.Exp(-theta))
	// Output:
	// steps=100 mean=1.05 exact=1.05
}

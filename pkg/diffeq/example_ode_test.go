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

// Drop a ball from 1 m and stop the solve when it hits the floor: the event
// time is sqrt(2·h0/g).
func ExampleOptions_event() {
	const g = 9.81
	// z = (height, velocity): h' = v, v' = −g, written with products by
	// constant matrices: z·[[0, 0], [1, 0]] + (0, −g) (one ball: a batch of 1).
	fall := func(ctx *context.Context, t, z *graph.Node) *graph.Node {
		shift := graph.Const(z.Graph(), [][]float64{{0, 0}, {1, 0}})
		return graph.Add(graph.MatMul(z, shift), graph.Const(z.Graph(), [][]float64{{0, -g}}))
	}
	hitFloor := func(ctx *context.Context, t, z *graph.Node) *graph.Node {
		return graph.Slice(z, graph.AxisRange(), graph.AxisElem(0)) // the height
	}
	solver, err := diffeq.NewODESolver(backend.MustNew(), context.New(), fall,
		diffeq.Options{Method: diffeq.Tsit5, RTol: 1e-10, ATol: 1e-12, Event: hitFloor})
	if err != nil {
		panic(err)
	}
	sol, err := solver.Solve(tensors.FromValue([][]float64{{1, 0}}), []float64{0, 10})
	if err != nil {
		panic(err)
	}
	z, _ := diffeq.Float64s(sol.Event.Z)
	fmt.Printf("impact at t=%.9f (sqrt(2/g) = %.9f), speed %.6f\n", sol.Event.T, math.Sqrt(2/g), -z[1])
	// Output:
	// impact at t=0.451523641 (sqrt(2/g) = 0.451523641), speed 4.429447
}

// Solve Van der Pol's oscillator with μ = 1000, a stiff problem, with the
// implicit Kvaerno5 method: a few hundred steps, where Dopri5's steps are held
// near 1e-3 by stability (2,000 of them reach only t ≈ 2; see
// TestStiffKvaerno5).
func ExampleKvaerno5() {
	vdp := func(ctx *context.Context, t, z *graph.Node) *graph.Node {
		x := graph.Slice(z, graph.AxisRange(), graph.AxisElem(0))
		y := graph.Slice(z, graph.AxisRange(), graph.AxisElem(1))
		dy := graph.Sub(graph.MulScalar(graph.Mul(graph.OneMinus(graph.Mul(x, x)), y), 1000), x)
		return graph.Concatenate([]*graph.Node{y, dy}, 1)
	}
	solver, err := diffeq.NewODESolver(backend.MustNew(), context.New(), vdp,
		diffeq.Options{Method: diffeq.Kvaerno5, RTol: 1e-6, ATol: 1e-6})
	if err != nil {
		panic(err)
	}
	sol, err := solver.Solve(tensors.FromValue([][]float64{{2, 0}}), []float64{0, 3000})
	if err != nil {
		panic(err)
	}
	z, _ := diffeq.Float64s(sol.Ys[1])
	fmt.Printf("x(3000) = %.4f, fewer than 500 steps: %v\n", z[0], sol.Steps < 500)
	// Output:
	// x(3000) = -1.5106, fewer than 500 steps: true
}

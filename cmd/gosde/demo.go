package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/diffeq"
	"github.com/gosde/gosde/pkg/plotting"
)

func init() {
	register("demo", "solve a small stochastic spiral SDE and plot it to --out", runDemo)
}

// runDemo solves dz = A z dt + σ dW (A = [[-0.1, -1], [1, -0.1]]) for a batch
// of paths with Heun, compares the sample mean at T with the exact
// mean exp(A T) z0, and writes two plots.
func runDemo(args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	out := fs.String("out", "out/demo", "directory for the plots")
	paths := fs.Int("paths", 256, "number of sample paths")
	sigma := fs.Float64("sigma", 0.05, "diffusion σ")
	t1 := fs.Float64("t1", 10, "end time")
	dt := fs.Float64("dt", 0.01, "solver step")
	seed := fs.Uint64("seed", 1, "Brownian seed")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := checkFlags(fs, atLeast(2, "paths"), atLeast(0, "sigma"), positive("t1", "dt")); err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("creating --out: %w", err)
	}
	b, err := backend.New()
	if err != nil {
		return err
	}
	fmt.Printf("backend: %s (%s)\n", backend.Config(), b.Description())
	s := *sigma
	sde := diffeq.SDE{
		Drift: func(ctx *context.Context, t, z *graph.Node) *graph.Node {
			at := graph.ConstAsDType(z.Graph(), z.DType(), [][]float64{{-0.1, 1}, {-1, -0.1}}) // Aᵀ
			return graph.MatMul(z, at)
		},
		Diffusion: func(ctx *context.Context, t, z *graph.Node) *graph.Node {
			return graph.MulScalar(graph.OnesLike(z), s)
		},
		Noise: diffeq.Additive,
		// With additive noise the Ito and Stratonovich readings agree, so the
		// Stratonovich Heun method (second order in the drift) applies.
		Type: diffeq.Stratonovich,
	}
	solver, err := diffeq.NewSDESolver(b, context.New(), sde, diffeq.Options{Method: diffeq.Heun, Dt: *dt})
	if err != nil {
		return err
	}
	const nSave = 101
	ts := make([]float64, nSave)
	for i := range ts {
		ts[i] = *t1 * float64(i) / (nSave - 1)
	}
	z0 := []float64{1, 0}
	flat := make([]float64, 0, 2**paths)
	for range *paths {
		flat = append(flat, z0...)
	}
	bm, err := diffeq.NewBrownian(*seed, 0, *t1, *dt, *paths, 2, dtypes.Float64)
	if err != nil {
		return err
	}
	sol, err := solver.Solve(diffeq.FromFloat64s(dtypes.Float64, flat, *paths, 2), ts, bm)
	if err != nil {
		return err
	}
	xs := make([][]float64, *paths) // xs[path][time]: first coordinate
	ys := make([][]float64, *paths)
	for p := range xs {
		xs[p], ys[p] = make([]float64, nSave), make([]float64, nSave)
	}
	for i, y := range sol.Ys {
		v, err := diffeq.Float64s(y)
		if err != nil {
			return err
		}
		for p := range *paths {
			xs[p][i], ys[p][i] = v[2*p], v[2*p+1]
		}
	}
	// Exact mean: e^{-0.1t}(cos t, sin t) for z0 = (1, 0).
	exact := make([]float64, nSave)
	for i, t := range ts {
		exact[i] = math.Exp(-0.1*t) * math.Cos(t)
	}
	var mean, sq float64
	for p := range *paths {
		mean += xs[p][nSave-1]
	}
	mean /= float64(*paths)
	for p := range *paths {
		sq += (xs[p][nSave-1] - mean) * (xs[p][nSave-1] - mean)
	}
	se := math.Sqrt(sq / float64(*paths-1) / float64(*paths))
	fmt.Printf("Heun: %d paths, %d steps, NFE %d\n", *paths, sol.Steps, sol.NFE)
	fmt.Printf("mean of x(T=%g): %.4f ± %.4f (exact %.4f)\n", *t1, mean, se, exact[nSave-1])

	band, err := plotting.QuantileBand("5–95% of paths", xs, 0.05, 0.95)
	if err != nil {
		return err
	}
	shown := xs
	if len(shown) > 20 {
		shown = shown[:20]
	}
	p1, err := plotting.Paths("Stochastic spiral: x(t)", ts, shown, []plotting.Band{band},
		plotting.Series{Label: "exact mean", Xs: ts, Ys: exact, Dashed: true})
	if err != nil {
		return err
	}
	p2, err := plotting.TrajectoryByTime("One path in the plane, coloured by time", ts, xs[0], ys[0])
	if err != nil {
		return err
	}
	for name, fig := range map[string]plotting.Figure{"paths.png": p1, "trajectory.png": p2} {
		path := filepath.Join(*out, name)
		if err := plotting.Save(fig, path, 800, 500); err != nil {
			return err
		}
		fmt.Println("wrote", path)
	}
	return nil
}

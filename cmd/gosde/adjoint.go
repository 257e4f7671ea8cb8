package main

import (
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/layers"

	"github.com/gosde/gosde/pkg/adjoint"
	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/diffeq"
)

func init() {
	register("adjoint", "gradient methods: adjoint vs direct error tables, memory and time vs steps", runAdjoint)
}

func runAdjoint(args []string) error {
	fs := flag.NewFlagSet("adjoint", flag.ContinueOnError)
	stepsFlag := fs.String("steps", "100,1000", "comma-separated step counts for the memory table (empty: skip it)")
	directMax := fs.Int("direct-max", 1000, "largest step count for the direct method in the memory table")
	hidden := fs.Int("hidden", 64, "hidden width of the memory table's MLP (state 8, batch 256, float32)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := checkFlags(fs, atLeast(0, "direct-max"), atLeast(1, "hidden")); err != nil {
		return err
	}
	b, err := backend.New()
	if err != nil {
		return err
	}
	var steps []int
	if strings.TrimSpace(*stepsFlag) != "" {
		for _, s := range strings.Split(*stepsFlag, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < 1 {
				return fmt.Errorf("-steps: %q is not a positive integer", s)
			}
			steps = append(steps, n)
		}
	}
	if err := odeErrorTable(b); err != nil {
		return err
	}
	if err := sdeErrorTable(b); err != nil {
		return err
	}
	if len(steps) == 0 {
		return nil
	}
	return memoryTable(b, steps, *directMax, *hidden)
}

// cliMLP is Dense(h)–tanh–Dense(d) with the context's default initializer.
func cliMLP(hidden int) diffeq.Func {
	return func(ctx *context.Context, t, z *graph.Node) *graph.Node {
		h := graph.Tanh(layers.Dense(ctx.In("l1"), z, true, hidden))
		return layers.Dense(ctx.In("l2"), h, true, z.Shape().Dimensions[1])
	}
}

// sumSquares is Σ_i Σ z_i² / 2 over the save times, and its gradients dL/dz_i = z_i.
func sumSquares(zs []*graph.Node) *graph.Node {
	var loss *graph.Node
	for _, z := range zs {
		term := graph.MulScalar(graph.ReduceAllSum(graph.Mul(z, z)), 0.5)
		if loss == nil {
			loss = term
		} else {
			loss = graph.Add(loss, term)
		}
	}
	return loss
}

// directGrads returns a graph function giving [dL/dz0, dL/dθ…] of sumSquares
// over the states solve returns.
func directGrads(solve func(ctx *context.Context, z0, aux *graph.Node) []*graph.Node) func(ctx *context.Context, z0, aux *graph.Node) []*graph.Node {
	return func(ctx *context.Context, z0, aux *graph.Node) []*graph.Node {
		z0 = graph.Identity(z0)
		loss := sumSquares(solve(ctx.Checked(false), z0, aux))
		wrt := []*graph.Node{z0}
		for v := range ctx.IterVariables() {
			if v.Trainable && v.InUseByGraph(z0.Graph()) {
				wrt = append(wrt, v.ValueGraph(z0.Graph()))
			}
		}
		return graph.Gradient(loss, wrt...)
	}
}

func flatAll(ts ...[]*tensors.Tensor) []float64 {
	var out []float64
	for _, list := range ts {
		for _, t := range list {
			v, _ := diffeq.Float64s(t)
			out = append(out, v...)
		}
	}
	return out
}

func relError(a, b []float64) float64 {
	var num, den float64
	for i := range a {
		num += (a[i] - b[i]) * (a[i] - b[i])
		den += b[i] * b[i]
	}
	return math.Sqrt(num / den)
}

// cotangents returns dL/dz_i = z_i for sumSquares.
func cotangents(ys []*tensors.Tensor) []*tensors.Tensor { return ys }

func odeErrorTable(b backends.Backend) error {
	ctx := context.New()
	f := cliMLP(16)
	ts := []float64{0, 0.3, 0.7, 1.2, 1.5}
	z0 := tensors.FromValue([][]float64{{0.5, -0.3}, {1.1, 0.2}, {-0.7, 0.9}})
	var ref []float64
	fmt.Println("ODE: MLP 2-16-2 tanh, batch 3, loss Σ_i ½‖z(t_i)‖² over 5 save times, float64")
	fmt.Println("| gradient | rtol = atol | rel. error vs reference | NFE forward | NFE backward |")
	fmt.Println("|---|---|---|---|---|")
	for _, tol := range []float64{1e-3, 1e-6, 1e-9} {
		a, err := adjoint.NewODE(b, ctx, f, adjoint.Options{Solver: diffeq.Options{Method: diffeq.Dopri5, RTol: tol, ATol: tol}})
		if err != nil {
			return err
		}
		tr, err := a.Forward(z0, ts)
		if err != nil {
			return err
		}
		g, err := a.Backward(tr, cotangents(tr.Ys))
		if err != nil {
			return err
		}
		if ref == nil {
			// Reference: backprop through 60 Dopri5 steps per interval.
			e, err := context.NewExec(b, ctx, directGrads(func(ctx *context.Context, z0, tsN *graph.Node) []*graph.Node {
				zs, err := diffeq.Integrate(ctx, diffeq.Dopri5, f, z0, tsN, 60)
				if err != nil {
					panic(err)
				}
				return zs
			}))
			if err != nil {
				return err
			}
			out, err := e.Exec(z0, tensors.FromValue(ts))
			if err != nil {
				return err
			}
			ref = flatAll(out)
		}
		got := flatAll([]*tensors.Tensor{g.Z0}, g.Params)
		fmt.Printf("| adjoint (Dopri5) | %g | %.2e | %d | %d |\n", tol, relError(got, ref), tr.NFE, g.NFE)
	}
	fmt.Println("(reference: direct backprop through 60 Dopri5 steps per save interval)")
	fmt.Println()
	return nil
}

func sdeErrorTable(b backends.Backend) error {
	ctx := context.New()
	s := diffeq.SDE{
		Drift: func(ctx *context.Context, t, z *graph.Node) *graph.Node { return cliMLP(16)(ctx.In("drift"), t, z) },
		Diffusion: func(ctx *context.Context, t, z *graph.Node) *graph.Node {
			return graph.AddScalar(graph.MulScalar(graph.Sigmoid(layers.Dense(ctx.In("diffusion"), z, true, 2)), 0.3), 0.1)
		},
		Noise: diffeq.Diagonal, Type: diffeq.Stratonovich,
	}
	ts := []float64{0, 0.25, 0.5, 0.75, 1}
	z0 := tensors.FromValue([][]float64{{0.5, -0.3}, {1.1, 0.2}, {-0.7, 0.9}})
	bm, err := diffeq.NewBrownian(42, 0, 1, 1.0/256, 3, 2, dtypes.Float64)
	if err != nil {
		return err
	}
	fmt.Println("SDE: MLP drift, diagonal diffusion (Stratonovich), batch 3, one Brownian path, same loss")
	fmt.Println("| dt | stochastic adjoint (Heun) vs direct Heun | reversible Heun adjoint vs direct reversible Heun |")
	fmt.Println("|---|---|---|")
	for k := 4; k <= 8; k++ {
		dt := math.Pow(2, -float64(k))
		var errs []float64
		for _, m := range []diffeq.Method{diffeq.Heun, diffeq.ReversibleHeun} {
			a, err := adjoint.NewSDE(b, ctx, s, adjoint.SDEOptions{Method: m, Dt: dt})
			if err != nil {
				return err
			}
			tr, err := a.Forward(z0, ts, bm)
			if err != nil {
				return err
			}
			g, err := a.Backward(tr, cotangents(tr.Ys))
			if err != nil {
				return err
			}
			grid := []float64{0}
			for i := 1; i <= int(math.Round(1/dt)); i++ {
				grid = append(grid, float64(i)*dt)
			}
			e, err := context.NewExec(b, ctx, directGrads(func(ctx *context.Context, z0, dW *graph.Node) []*graph.Node {
				form, err := s.Stratonovich() // the form the adjoint discretises
				if err != nil {
					panic(err)
				}
				zs, err := diffeq.IntegrateSDE(ctx, form, m, z0, ts, dt, dW)
				if err != nil {
					panic(err)
				}
				return zs
			}))
			if err != nil {
				return err
			}
			out, err := e.Exec(z0, bm.Increments(grid))
			if err != nil {
				return err
			}
			errs = append(errs, relError(flatAll([]*tensors.Tensor{g.Z0}, g.Params), flatAll(out)))
		}
		fmt.Printf("| 2^-%d | %.2e | %.2e |\n", k, errs[0], errs[1])
	}
	fmt.Println()
	return nil
}

func memoryTable(b backends.Backend, steps []int, directMax, hidden int) error {
	fmt.Printf("One gradient of Σ z(1)²: RK4 over [0, 1], MLP 8-%d-8 tanh, batch 256, float32\n", hidden)
	fmt.Println("| method | steps | time (s) | peak live heap (MiB) | peak RSS (MiB) |")
	fmt.Println("|---|---|---|---|---|")
	vals := make([]float32, 256*8)
	for i := range vals {
		vals[i] = float32(math.Sin(float64(i)))
	}
	z0 := tensors.FromFlatDataAndDimensions(vals, 256, 8)
	f := cliMLP(hidden)
	for _, n := range steps {
		for _, method := range []string{"adjoint", "direct"} {
			if method == "direct" && n > directMax {
				fmt.Printf("| direct | %d | skipped (> -direct-max %d) | | |\n", n, directMax)
				continue
			}
			ctx := context.New()
			var run func() error
			if method == "adjoint" {
				a, err := adjoint.NewODE(b, ctx, f, adjoint.Options{Solver: diffeq.Options{Method: diffeq.RK4, Dt: 1 / float64(n), Chunk: 50}})
				if err != nil {
					return err
				}
				run = func() error {
					tr, err := a.Forward(z0, []float64{0, 1})
					if err != nil {
						return err
					}
					_, err = a.Backward(tr, []*tensors.Tensor{nil, tr.Ys[1]})
					return err
				}
			} else {
				e, err := context.NewExec(b, ctx, directGrads(func(ctx *context.Context, z0, tsN *graph.Node) []*graph.Node {
					zs, err := diffeq.Integrate(ctx, diffeq.RK4, f, z0, tsN, n)
					if err != nil {
						panic(err)
					}
					return zs[1:]
				}))
				if err != nil {
					return err
				}
				ts := tensors.FromValue([]float32{0, 1})
				run = func() error { _, err := e.Exec(z0, ts); return err }
			}
			if err := run(); err != nil { // warm-up: compiles
				return err
			}
			u, err := adjoint.MeasureMemory(run)
			if err != nil {
				return err
			}
			fmt.Printf("| %s | %d | %.2f | %.1f | %.1f |\n", method, n, u.Seconds, u.PeakLiveMB, u.PeakRSSMB)
		}
	}
	return nil
}

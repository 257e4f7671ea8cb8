package adjoint_test

import (
	"math"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/adjoint"
	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/diffeq"
)

var sdeTs = []float64{0, 0.25, 0.5, 0.75, 1}

// testSDE has an MLP drift and a diagonal diffusion 0.2 + 0.3·σ(u⊙z + c).
func testSDE(typ diffeq.SDEType) diffeq.SDE {
	return diffeq.SDE{
		Drift: func(ctx *context.Context, t, z *graph.Node) *graph.Node {
			return mlp(2, 8, 5)(ctx.In("drift"), t, z)
		},
		Diffusion: func(ctx *context.Context, t, z *graph.Node) *graph.Node {
			ctx = ctx.In("diffusion")
			u := ctx.VariableWithValue("u", tensorOf([]float64{0.8, -0.6}, 1, 2)).ValueGraph(z.Graph())
			c := ctx.VariableWithValue("c", tensorOf([]float64{0.1, 0.3}, 1, 2)).ValueGraph(z.Graph())
			return graph.AddScalar(graph.MulScalar(graph.Sigmoid(graph.Add(graph.Mul(z, u), c)), 0.3), 0.2)
		},
		Noise: diffeq.Diagonal,
		Type:  typ,
	}
}

var sdeZ0 = tensorOf([]float64{0.5, -0.3, 1.1, 0.2, -0.7, 0.9}, 3, 2)

// solvedIntegrate is diffeq.IntegrateSDE on the form of s that method m
// discretises, as the adjoint does: Stratonovich form, except
// Euler–Maruyama (additive noise) on s as given.
func solvedIntegrate(ctx *context.Context, s diffeq.SDE, m diffeq.Method, z0 *graph.Node, ts []float64, dt float64, dW *graph.Node) ([]*graph.Node, error) {
	if m != diffeq.EulerMaruyama {
		var err error
		if s, err = s.Stratonovich(); err != nil {
			return nil, err
		}
	}
	return diffeq.IntegrateSDE(ctx, s, m, z0, ts, dt, dW)
}

// sdeDirect returns dL/dz0 and dL/dθ by backprop through the unrolled solve.
func sdeDirect(t *testing.T, ctx *context.Context, s diffeq.SDE, m diffeq.Method, dt float64, bm *diffeq.Brownian, vars []*context.Variable) []float64 {
	t.Helper()
	grid := []float64{sdeTs[0]}
	for i := 1; i < len(sdeTs); i++ {
		n, err := diffeq.StepsIn(sdeTs[i]-sdeTs[i-1], dt)
		if err != nil {
			t.Fatal(err)
		}
		for k := 1; k <= n; k++ {
			grid = append(grid, sdeTs[i-1]+float64(k)*(sdeTs[i]-sdeTs[i-1])/float64(n))
		}
	}
	e := context.MustNewExec(backend.Shared(), ctx, func(ctx *context.Context, z0, dW *graph.Node) []*graph.Node {
		z0 = graph.Identity(z0)
		loss := odeLoss(solvedIntegrate(ctx, s, m, z0, sdeTs, dt, dW))
		wrt := []*graph.Node{z0}
		for _, v := range vars {
			wrt = append(wrt, v.ValueGraph(z0.Graph()))
		}
		return graph.Gradient(loss, wrt...)
	})
	out := e.MustExec(sdeZ0, bm.Increments(grid))
	var all []float64
	for _, o := range out {
		all = append(all, flat(t, o)...)
	}
	return all
}

func sdeAdjoint(t *testing.T, ctx *context.Context, s diffeq.SDE, opts adjoint.SDEOptions, bm *diffeq.Brownian) ([]float64, []*context.Variable) {
	t.Helper()
	a, err := adjoint.NewSDE(backend.Shared(), ctx, s, opts)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := a.Forward(sdeZ0, sdeTs, bm)
	if err != nil {
		t.Fatal(err)
	}
	g, err := a.Backward(tr, odeCotangents(tr.Ys))
	if err != nil {
		t.Fatal(err)
	}
	all := flat(t, g.Z0)
	for _, p := range g.Params {
		all = append(all, flat(t, p)...)
	}
	return all, g.Vars
}

func TestSDEAdjointConvergesToDirect(t *testing.T) {
	for _, typ := range []diffeq.SDEType{diffeq.Stratonovich, diffeq.Ito} {
		t.Run(string(typ), func(t *testing.T) {
			bm, err := diffeq.NewBrownian(42, 0, 1, 1.0/256, 3, 2, dtypes.Float64)
			if err != nil {
				t.Fatal(err)
			}
			var errs []float64
			for k := 4; k <= 8; k++ {
				ctx := context.New()
				dt := math.Pow(2, -float64(k))
				adj, vars := sdeAdjoint(t, ctx, testSDE(typ), adjoint.SDEOptions{Method: diffeq.Heun, Dt: dt}, bm)
				if len(vars) != 6 {
					t.Fatalf("got %d variables, want 6", len(vars))
				}
				dir := sdeDirect(t, ctx, testSDE(typ), diffeq.Heun, dt, bm, vars)
				e := relErr(adj, dir)
				errs = append(errs, e)
				t.Logf("dt=2^-%d: relative error adjoint vs direct %.3g", k, e)
			}
			for i := 1; i < len(errs); i++ {
				if !(errs[i] < errs[i-1]) {
					t.Errorf("error did not decrease from dt=2^-%d to 2^-%d: %.3g → %.3g", i+3, i+4, errs[i-1], errs[i])
				}
			}
			if !(errs[len(errs)-1] < errs[0]/4) {
				t.Errorf("error fell only from %.3g to %.3g over a 16x smaller step", errs[0], errs[len(errs)-1])
			}
		})
	}
}

func TestReversibleHeunExactGradients(t *testing.T) {
	bm, err := diffeq.NewBrownian(7, 0, 1, 1.0/64, 3, 2, dtypes.Float64)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.New()
	s := testSDE(diffeq.Stratonovich)
	adj, vars := sdeAdjoint(t, ctx, s, adjoint.SDEOptions{Method: diffeq.ReversibleHeun, Dt: 1.0 / 64}, bm)
	dir := sdeDirect(t, ctx, s, diffeq.ReversibleHeun, 1.0/64, bm, vars)
	e := relErr(adj, dir)
	t.Logf("reversible Heun adjoint vs direct backprop: relative error %.3g", e)
	if !(e < 1e-8) {
		t.Errorf("reversible Heun adjoint vs direct: relative error %.3g ≥ 1e-8", e)
	}
}

// TestSDEAdjointItoGBMClosedForm checks the Ito→Stratonovich conversion and
// the stochastic adjoint against geometric Brownian motion
// dz = μz dt + σz dW (Ito): z_T = z0·exp((μ − σ²/2)T + σW_T), so for
// L = Σ z_T: dL/dz0 = z_T/z0, dL/dμ = Σ z_T·T, dL/dσ = Σ z_T·(W_T − σT).
func TestSDEAdjointItoGBMClosedForm(t *testing.T) {
	const mu, sigma, T = 0.4, 0.5, 1.0
	gbm := diffeq.SDE{
		Drift: func(ctx *context.Context, t, z *graph.Node) *graph.Node {
			return graph.Mul(z, ctx.VariableWithValue("mu", mu).ValueGraph(z.Graph()))
		},
		Diffusion: func(ctx *context.Context, t, z *graph.Node) *graph.Node {
			return graph.Mul(z, ctx.VariableWithValue("sigma", sigma).ValueGraph(z.Graph()))
		},
		Noise: diffeq.Diagonal,
		Type:  diffeq.Ito,
	}
	z0 := tensorOf([]float64{1, 0.5, 2, 1.5}, 2, 2)
	bm, err := diffeq.NewBrownian(3, 0, T, 1.0/4096, 2, 2, dtypes.Float64)
	if err != nil {
		t.Fatal(err)
	}
	wT := bm.Increment(0, T)
	zv := flat(t, z0)
	var wantZ0, wantMu, wantSigma []float64
	var zT []float64
	for i, x := range zv {
		e := x * math.Exp((mu-sigma*sigma/2)*T+sigma*wT[i])
		zT = append(zT, e)
		wantZ0 = append(wantZ0, e/x)
	}
	var sMu, sSig float64
	for i := range zT {
		sMu += zT[i] * T
		sSig += zT[i] * (wT[i] - sigma*T)
	}
	wantMu, wantSigma = []float64{sMu}, []float64{sSig}
	a, err := adjoint.NewSDE(backend.Shared(), context.New(), gbm, adjoint.SDEOptions{Dt: 1.0 / 1024})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := a.Forward(z0, []float64{0, T}, bm)
	if err != nil {
		t.Fatal(err)
	}
	if e := relErr(flat(t, tr.Ys[1]), zT); !(e < 2e-3) {
		t.Errorf("z_T: relative error %.3g against the closed form", e)
	}
	ones := tensorOf([]float64{1, 1, 1, 1}, 2, 2)
	g, err := a.Backward(tr, []*tensors.Tensor{nil, ones})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want []float64
	}{{"dL/dz0", flat(t, g.Z0), wantZ0}, {"dL/dμ", flat(t, g.Params[0]), wantMu}, {"dL/dσ", flat(t, g.Params[1]), wantSigma}} {
		e := relErr(c.got, c.want)
		t.Logf("%s: relative error %.3g against the closed form", c.name, e)
		if !(e < 2e-3) {
			t.Errorf("%s = %v, want %v (relative error %.3g)", c.name, c.got, c.want, e)
		}
	}
}

// With checkpoints every 4 steps the backward pass resets z to the forward
// states; the gradients stay as close to the direct ones as without.
func TestSDEAdjointCheckpoints(t *testing.T) {
	bm, err := diffeq.NewBrownian(11, 0, 1, 1.0/32, 3, 2, dtypes.Float64)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.New()
	s := testSDE(diffeq.Stratonovich)
	plain, vars := sdeAdjoint(t, ctx, s, adjoint.SDEOptions{Dt: 1.0 / 32}, bm)
	ck, _ := sdeAdjoint(t, ctx, s, adjoint.SDEOptions{Dt: 1.0 / 32, CheckpointEvery: 4}, bm)
	dir := sdeDirect(t, ctx, s, diffeq.Heun, 1.0/32, bm, vars)
	ePlain, eCk := relErr(plain, dir), relErr(ck, dir)
	t.Logf("relative error vs direct: plain %.3g, checkpointed %.3g", ePlain, eCk)
	if !(eCk < 1e-4) || !(eCk < 2*ePlain) {
		t.Errorf("checkpointed adjoint: relative error %.3g (plain %.3g)", eCk, ePlain)
	}
	if relErr(ck, plain) == 0 {
		t.Errorf("checkpointing changed nothing: were the checkpoints used?")
	}
}

// Scalar and general noise: the stochastic adjoint is close to direct
// backprop at a small step, and reversible Heun is exact.
func TestSDEAdjointNoiseTypes(t *testing.T) {
	diffusionGeneral := func(ctx *context.Context, t, z *graph.Node) *graph.Node {
		w := ctx.In("diffusion").VariableWithValue("w", tensorOf(detValues(2*6, 17, 0.4), 2, 6)).ValueGraph(z.Graph())
		g := graph.AddScalar(graph.MulScalar(graph.Sigmoid(graph.MatMul(z, w)), 0.3), 0.05)
		return graph.Reshape(g, z.Shape().Dimensions[0], 2, 3)
	}
	for _, c := range []struct {
		noise diffeq.NoiseType
		m     int
	}{{diffeq.Scalar, 1}, {diffeq.General, 3}} {
		t.Run(string(c.noise), func(t *testing.T) {
			s := testSDE(diffeq.Stratonovich)
			s.Noise = c.noise
			if c.noise == diffeq.General {
				s.Diffusion, s.BrownianSize = diffusionGeneral, 3
			}
			bm, err := diffeq.NewBrownian(5, 0, 1, 1.0/64, 3, c.m, dtypes.Float64)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.New()
			for _, m := range []diffeq.Method{diffeq.Heun, diffeq.ReversibleHeun} {
				adj, vars := sdeAdjoint(t, ctx, s, adjoint.SDEOptions{Method: m, Dt: 1.0 / 64}, bm)
				dir := sdeDirect(t, ctx, s, m, 1.0/64, bm, vars)
				e := relErr(adj, dir)
				t.Logf("%s: relative error vs direct %.3g", m, e)
				tol := 1e-4
				if m == diffeq.ReversibleHeun {
					tol = 1e-8
				}
				if !(e < tol) {
					t.Errorf("%s with %s noise: relative error %.3g ≥ %g", m, c.noise, e, tol)
				}
			}
		})
	}
}

// The adjoint's forward solves equal diffeq's SDESolver on the same path.
func TestSDEForwardMatchesDiffeqSolver(t *testing.T) {
	bm, err := diffeq.NewBrownian(9, 0, 1, 1.0/32, 3, 2, dtypes.Float64)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.New()
	s := testSDE(diffeq.Stratonovich)
	for _, m := range []diffeq.Method{diffeq.Heun, diffeq.SDEMidpoint, diffeq.ReversibleHeun} {
		a, err := adjoint.NewSDE(backend.Shared(), ctx, s, adjoint.SDEOptions{Method: m, Dt: 1.0 / 32})
		if err != nil {
			t.Fatal(err)
		}
		tr, err := a.Forward(sdeZ0, sdeTs, bm)
		if err != nil {
			t.Fatal(err)
		}
		solver, err := diffeq.NewSDESolver(backend.Shared(), ctx, s, diffeq.Options{Method: m, Dt: 1.0 / 32})
		if err != nil {
			t.Fatal(err)
		}
		sol, err := solver.Solve(sdeZ0, sdeTs, bm)
		if err != nil {
			t.Fatal(err)
		}
		for i := range sdeTs {
			if e := relErr(flat(t, tr.Ys[i]), flat(t, sol.Ys[i])); !(e < 1e-12) {
				t.Errorf("%s: state at ts[%d] differs from diffeq.SDESolver by %.3g (relative)", m, i, e)
			}
		}
	}
}

// With additive noise, the Euler–Maruyama stochastic adjoint's gradients
// converge to backprop through the same Euler–Maruyama solve as dt → 0
// (first order: the error falls about 2x per halving of dt), on a
// Stratonovich- and an Ito-declared SDE alike; diagonal noise is refused.
func TestSDEAdjointEulerAdditive(t *testing.T) {
	additive := func(typ diffeq.SDEType) diffeq.SDE {
		s := testSDE(typ)
		s.Noise = diffeq.Additive
		s.Diffusion = func(ctx *context.Context, t, z *graph.Node) *graph.Node {
			c := ctx.In("diffusion").VariableWithValue("c", tensorOf([]float64{0.3, 0.5}, 1, 2)).ValueGraph(z.Graph())
			return graph.BroadcastToShape(graph.Add(c, graph.MulScalar(graph.Sin(t), 0.1)), z.Shape())
		}
		return s
	}
	if _, err := adjoint.NewSDE(backend.Shared(), nil, testSDE(diffeq.Ito), adjoint.SDEOptions{Method: diffeq.EulerMaruyama, Dt: 0.1}); err == nil {
		t.Errorf("NewSDE accepted Euler–Maruyama with diagonal noise")
	}
	for _, typ := range []diffeq.SDEType{diffeq.Ito, diffeq.Stratonovich} {
		t.Run(string(typ), func(t *testing.T) {
			bm, err := diffeq.NewBrownian(3, 0, 1, 1.0/512, 3, 2, dtypes.Float64)
			if err != nil {
				t.Fatal(err)
			}
			var errs []float64
			for k := 5; k <= 9; k++ {
				ctx := context.New()
				dt := math.Pow(2, -float64(k))
				adj, vars := sdeAdjoint(t, ctx, additive(typ), adjoint.SDEOptions{Method: diffeq.EulerMaruyama, Dt: dt}, bm)
				if len(vars) != 5 {
					t.Fatalf("got %d variables, want 5", len(vars))
				}
				ito := additive(diffeq.Ito)
				dir := sdeDirect(t, ctx, ito, diffeq.EulerMaruyama, dt, bm, vars)
				errs = append(errs, relErr(adj, dir))
				t.Logf("dt=2^-%d: relative error adjoint vs direct %.3g", k, errs[len(errs)-1])
			}
			for i := 1; i < len(errs); i++ {
				if !(errs[i] < 0.6*errs[i-1]) {
					t.Errorf("error did not fall by ≥ 40%% from dt=2^-%d to 2^-%d: %.3g → %.3g", i+4, i+5, errs[i-1], errs[i])
				}
			}
			if !(errs[len(errs)-1] < 2e-3) {
				t.Errorf("relative error at dt=2^-9 is %.3g", errs[len(errs)-1])
			}
		})
	}
}

// Chunked executable calls (SDEOptions.Chunk) give the per-step results:
// chunks of 3 and 5 steps that do not divide the save intervals (8 steps)
// nor the checkpoints (every 6), for the stochastic adjoint's methods.
func TestSDEAdjointChunks(t *testing.T) {
	bm, err := diffeq.NewBrownian(21, 0, 1, 1.0/32, 3, 2, dtypes.Float64)
	if err != nil {
		t.Fatal(err)
	}
	additive := testSDE(diffeq.Ito)
	additive.Noise = diffeq.Additive
	additive.Diffusion = func(ctx *context.Context, t, z *graph.Node) *graph.Node {
		c := ctx.In("diffusion").VariableWithValue("c", tensorOf([]float64{0.3, 0.5}, 1, 2)).ValueGraph(z.Graph())
		return graph.BroadcastToShape(c, z.Shape())
	}
	for _, c := range []struct {
		m diffeq.Method
		s diffeq.SDE
	}{{diffeq.Heun, testSDE(diffeq.Ito)}, {diffeq.SDEMidpoint, testSDE(diffeq.Stratonovich)}, {diffeq.EulerMaruyama, additive}} {
		for _, ck := range []int{0, 6} {
			ctx := context.New()
			ref, _ := sdeAdjoint(t, ctx, c.s, adjoint.SDEOptions{Method: c.m, Dt: 1.0 / 32, CheckpointEvery: ck, Chunk: 1}, bm)
			for _, chunk := range []int{0, 3, 5, 100} { // 0: DefaultSDEChunk
				got, _ := sdeAdjoint(t, ctx, c.s, adjoint.SDEOptions{Method: c.m, Dt: 1.0 / 32, CheckpointEvery: ck, Chunk: chunk}, bm)
				if e := relErr(got, ref); !(e < 1e-13) {
					t.Errorf("%s, checkpoints %d, chunk %d: gradients differ from one step per call by %.3g", c.m, ck, chunk, e)
				}
			}
		}
	}
}

// SDE.Backward refuses a trajectory that another SDE's Forward made (its
// grid and Brownian path are that solver's) and takes its own.
func TestSDEBackwardOwnTrajectory(t *testing.T) {
	bm, err := diffeq.NewBrownian(5, 0, 1, 1.0/16, 3, 2, dtypes.Float64)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.New()
	s := testSDE(diffeq.Stratonovich)
	a, err := adjoint.NewSDE(backend.Shared(), ctx, s, adjoint.SDEOptions{Dt: 1.0 / 16})
	if err != nil {
		t.Fatal(err)
	}
	other, err := adjoint.NewSDE(backend.Shared(), ctx, s, adjoint.SDEOptions{Dt: 1.0 / 8})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := other.Forward(sdeZ0, sdeTs, bm)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Backward(tr, odeCotangents(tr.Ys)); err == nil || !strings.Contains(err.Error(), "another solver") {
		t.Errorf("a trajectory of another solver: want an error naming it, got %v", err)
	}
	if _, err := other.Backward(tr, odeCotangents(tr.Ys)); err != nil {
		t.Errorf("its own solver refused the trajectory: %v", err)
	}
}

package diffeq_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/diffeq"

	"github.com/gosde/gosde/internal/stats"
)

// ouSDE is dz = θ(μ − z) dt + σ dW.
func ouSDE(theta, mu, sigma float64) diffeq.SDE {
	return diffeq.SDE{
		Drift: func(_ *context.Context, _, z *graph.Node) *graph.Node {
			return graph.MulScalar(graph.AddScalar(graph.Neg(z), mu), theta)
		},
		Diffusion: func(_ *context.Context, _, z *graph.Node) *graph.Node {
			return graph.MulScalar(graph.OnesLike(z), sigma)
		},
	}
}

// gbmSDE is dz = μz dt + σz dW (Ito or Stratonovich).
func gbmSDE(mu, sigma float64, typ diffeq.SDEType) diffeq.SDE {
	return diffeq.SDE{
		Drift:     func(_ *context.Context, _, z *graph.Node) *graph.Node { return graph.MulScalar(z, mu) },
		Diffusion: func(_ *context.Context, _, z *graph.Node) *graph.Node { return graph.MulScalar(z, sigma) },
		Type:      typ,
	}
}

// constState returns a (batch, d) float64 tensor filled with v.
func constState(batch, d int, v float64) *tensors.Tensor {
	data := make([]float64, batch*d)
	for i := range data {
		data[i] = v
	}
	return tensors.FromFlatDataAndDimensions(data, batch, d)
}

// solveSDE solves on the host and returns the flat final state.
func solveSDE(t *testing.T, sde diffeq.SDE, opts diffeq.Options, z0 *tensors.Tensor, ts []float64, bm *diffeq.Brownian) []float64 {
	t.Helper()
	s, err := diffeq.NewSDESolver(backend.Shared(), context.New(), sde, opts)
	if err != nil {
		t.Fatal(err)
	}
	sol, err := s.Solve(z0, ts, bm)
	if err != nil {
		t.Fatal(err)
	}
	out, err := diffeq.Float64s(sol.Ys[len(sol.Ys)-1])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// within3SE checks the sample mean of xs against want, within 3 standard
// errors.
func within3SE(t *testing.T, name string, xs []float64, want float64) {
	t.Helper()
	mean, v := stats.MeanVar(xs)
	if se := math.Sqrt(v / float64(len(xs))); math.Abs(mean-want) > 3*se {
		t.Errorf("%s: mean %g, want %g ± %g (3 SE)", name, mean, want, 3*se)
	}
}

// TestOUMoments checks Euler–Maruyama on Ornstein–Uhlenbeck against the
// closed-form mean μ + (z0−μ)e^{−θT} and variance σ²(1−e^{−2θT})/(2θ),
// with 10⁴ paths, within 3 standard errors (dt = 2⁻⁹: the scheme's bias is
// far below the errors).
func TestOUMoments(t *testing.T) {
	const theta, mu, sigma, z0, T, n = 1.5, 0.5, 0.6, 2.0, 1.0, 10000
	bm := newBM(t, 42, 1.0/512, n, 1)
	z := solveSDE(t, ouSDE(theta, mu, sigma), diffeq.Options{Dt: 1.0 / 512}, constState(n, 1, z0), []float64{0, T}, bm)
	wantMean := mu + (z0-mu)*math.Exp(-theta*T)
	wantVar := sigma * sigma * (1 - math.Exp(-2*theta*T)) / (2 * theta)
	mean, v := stats.MeanVar(z)
	if se := math.Sqrt(wantVar / n); math.Abs(mean-wantMean) > 3*se {
		t.Errorf("mean %g, want %g ± %g", mean, wantMean, 3*se)
	}
	if se := wantVar * math.Sqrt(2.0/(n-1)); math.Abs(v-wantVar) > 3*se {
		t.Errorf("variance %g, want %g ± %g", v, wantVar, 3*se)
	}
}

// strongErrors solves GBM with steps 2^-4 … 2^-8 driven by one fine-grid
// Brownian path per sample and returns the steps and mean |z_T − exact|.
func strongErrors(t *testing.T, sde diffeq.SDE, m diffeq.Method, exact func(w float64) float64) (hs, errs []float64) {
	const n = 1000
	bm := newBM(t, 17, 1.0/256, n, 1)
	w := bm.Increment(0, 1)
	for k := 4; k <= 8; k++ {
		h := math.Ldexp(1, -k)
		z := solveSDE(t, sde, diffeq.Options{Method: m, Dt: h}, constState(n, 1, 1), []float64{0, 1}, bm)
		var e float64
		for i, v := range z {
			e += math.Abs(v - exact(w[i]))
		}
		hs, errs = append(hs, h), append(errs, e/n)
	}
	return
}

// TestGBMStrongOrder checks the strong orders on geometric Brownian motion
// against z0·exp((μ − σ²/2)t + σW_t) (Ito) and z0·exp(μt + σW_t)
// (Stratonovich), driven by the same Brownian path: the fitted slope of log
// mean |error| against log dt.
func TestGBMStrongOrder(t *testing.T) {
	const mu, sigma = 0.5, 0.8
	ito := func(w float64) float64 { return math.Exp(mu - sigma*sigma/2 + sigma*w) }
	strat := func(w float64) float64 { return math.Exp(mu + sigma*w) }
	for _, c := range []struct {
		m        diffeq.Method
		typ      diffeq.SDEType
		lo, hi   float64
		exactFun func(float64) float64
	}{
		{diffeq.EulerMaruyama, diffeq.Ito, 0.35, 0.7, ito},
		{diffeq.Milstein, diffeq.Ito, 0.85, 1.2, ito},
		{diffeq.Milstein, diffeq.Stratonovich, 0.85, 1.2, strat},
		{diffeq.Heun, diffeq.Stratonovich, 0.85, 1.2, strat},
		{diffeq.SDEMidpoint, diffeq.Stratonovich, 0.85, 1.2, strat},
		{diffeq.ReversibleHeun, diffeq.Stratonovich, 0.85, 1.2, strat},
	} {
		hs, errs := strongErrors(t, gbmSDE(mu, sigma, c.typ), c.m, c.exactFun)
		p := slope(hs, errs)
		t.Logf("%s (%s): errors %.3g, order %.2f", c.m, c.typ, errs, p)
		if p < c.lo || p > c.hi {
			t.Errorf("%s (%s): strong order %.2f, want in [%g, %g] (errors %v)", c.m, c.typ, p, c.lo, c.hi, errs)
		}
	}
}

// TestGBMMeans checks E[z_T] = z0·e^{μT} under Ito and z0·e^{(μ+σ²/2)T}
// under Stratonovich (same f, g) within 3 SE with 10⁴ paths, for every
// method of each calculus.
func TestGBMMeans(t *testing.T) {
	const mu, sigma, n, T = 0.5, 0.5, 10000, 1.0
	bm := newBM(t, 23, 1.0/128, n, 1)
	for _, c := range []struct {
		m    diffeq.Method
		typ  diffeq.SDEType
		want float64
	}{
		{diffeq.EulerMaruyama, diffeq.Ito, math.Exp(mu * T)},
		{diffeq.Milstein, diffeq.Ito, math.Exp(mu * T)},
		{diffeq.Heun, diffeq.Stratonovich, math.Exp((mu + sigma*sigma/2) * T)},
		{diffeq.SDEMidpoint, diffeq.Stratonovich, math.Exp((mu + sigma*sigma/2) * T)},
		{diffeq.ReversibleHeun, diffeq.Stratonovich, math.Exp((mu + sigma*sigma/2) * T)},
	} {
		z := solveSDE(t, gbmSDE(mu, sigma, c.typ), diffeq.Options{Method: c.m, Dt: 1.0 / 128}, constState(n, 1, 1), []float64{0, T}, bm)
		within3SE(t, string(c.m), z, c.want)
	}
}

// execNodes builds and runs a graph on float64 inputs, returning the flat
// outputs.
func execNodes(t *testing.T, fn func(ctx *context.Context, in []*graph.Node) []*graph.Node, args ...any) [][]float64 {
	t.Helper()
	e, err := context.NewExec(backend.Shared(), context.New(), fn)
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Exec(args...)
	if err != nil {
		t.Fatal(err)
	}
	res := make([][]float64, len(out))
	for i, o := range out {
		if res[i], err = diffeq.Float64s(o); err != nil {
			t.Fatal(err)
		}
	}
	return res
}

// nonlinearSDE is a Stratonovich diagonal SDE with state-dependent drift
// and diffusion: f = sin(z) − 0.3z, g = 0.5·cos(z) + 1.
func nonlinearSDE() diffeq.SDE {
	return diffeq.SDE{
		Drift: func(_ *context.Context, _, z *graph.Node) *graph.Node {
			return graph.Sub(graph.Sin(z), graph.MulScalar(z, 0.3))
		},
		Diffusion: func(_ *context.Context, t, z *graph.Node) *graph.Node {
			return graph.AddScalar(graph.Mul(graph.MulScalar(graph.Cos(z), 0.5), graph.AddScalar(t, 1)), 1)
		},
		Type: diffeq.Stratonovich,
	}
}

// TestReversibleHeunInverse checks that ReversibleHeunBackStep undoes three
// ReversibleHeunSteps: z, ẑ, f and g are recovered to 1e-12.
func TestReversibleHeunInverse(t *testing.T) {
	sde := nonlinearSDE()
	bm := newBM(t, 5, 0.1, 4, 3)
	noise := bm.Increments([]float64{0, 0.1, 0.2, 0.3})
	z0 := tensors.FromValue([][]float64{{0.1, -1, 2}, {0.5, 0.4, -0.3}, {3, 1, 0}, {-2, 0.7, 1.1}})
	out := execNodes(t, func(ctx *context.Context, in []*graph.Node) []*graph.Node {
		z, noise := in[0], in[1]
		dW := func(k int) *graph.Node {
			return graph.Reshape(graph.Slice(noise, graph.AxisElem(k)), 4, 3)
		}
		sc := func(v float64) *graph.Node { return graph.Scalar(z.Graph(), z.DType(), v) }
		s0, err := diffeq.ReversibleHeunInit(ctx, sde, sc(0), z)
		if err != nil {
			panic(err)
		}
		s := s0
		for k := 0; k < 3; k++ {
			if s, err = diffeq.ReversibleHeunStep(ctx, sde, sc(0.1*float64(k)), sc(0.1), s, dW(k)); err != nil {
				panic(err)
			}
		}
		moved := graph.ReduceAllMax(graph.Abs(graph.Sub(s.Z, z)))
		for k := 2; k >= 0; k-- {
			if s, err = diffeq.ReversibleHeunBackStep(ctx, sde, sc(0.1*float64(k)), sc(0.1), s, dW(k)); err != nil {
				panic(err)
			}
		}
		d := func(a, b *graph.Node) *graph.Node { return graph.ReduceAllMax(graph.Abs(graph.Sub(a, b))) }
		return []*graph.Node{d(s.Z, s0.Z), d(s.ZHat, s0.ZHat), d(s.F, s0.F), d(s.G, s0.G), moved}
	}, z0, noise)
	for i, name := range []string{"z", "ẑ", "f", "g"} {
		if out[i][0] > 1e-12 {
			t.Errorf("%s recovered to %g, want ≤ 1e-12", name, out[i][0])
		}
	}
	if out[4][0] < 1e-2 {
		t.Errorf("the forward steps moved z by only %g: test is vacuous", out[4][0])
	}
}

// TestIntegrateSDEMatchesSolver checks that the in-graph IntegrateSDE gives
// the host solver's states (same grid and noise) for each method, and that
// its gradient with respect to z0 for OU under Euler–Maruyama is the exact
// (1 − θh)^N.
func TestIntegrateSDEMatchesSolver(t *testing.T) {
	ts := []float64{0, 0.3, 1}
	const dt = 0.1
	grid, _, err := diffeq.SDEGrid(ts, dt)
	if err != nil {
		t.Fatal(err)
	}
	if len(grid) != 11 || grid[3] != 0.3 || grid[10] != 1 {
		t.Fatalf("SDEGrid(%v, %g) = %v, want 3 steps to 0.3 then 7 to 1", ts, dt, grid)
	}
	bm := newBM(t, 8, 0.1, 4, 3)
	z0 := tensors.FromValue([][]float64{{0.1, -1, 2}, {0.5, 0.4, -0.3}, {3, 1, 0}, {-2, 0.7, 1.1}})
	for _, c := range []struct {
		m   diffeq.Method
		sde diffeq.SDE
	}{
		{diffeq.EulerMaruyama, ouSDE(1, 0, 0.5)},
		{diffeq.Milstein, gbmSDE(0.3, 0.6, diffeq.Ito)},
		{diffeq.Heun, nonlinearSDE()},
		{diffeq.SDEMidpoint, nonlinearSDE()},
		{diffeq.ReversibleHeun, nonlinearSDE()},
	} {
		want := solveSDE(t, c.sde, diffeq.Options{Method: c.m, Dt: dt, Chunk: 4}, z0, ts, bm)
		got := execNodes(t, func(ctx *context.Context, in []*graph.Node) []*graph.Node {
			zs, err := diffeq.IntegrateSDE(ctx, c.sde, c.m, in[0], ts, dt, in[1])
			if err != nil {
				panic(err)
			}
			return []*graph.Node{zs[2]}
		}, z0, bm.Increments(grid))[0]
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-12 {
				t.Errorf("%s: element %d: in-graph %g, host %g", c.m, i, got[i], want[i])
			}
		}
	}
	// d/dz0 Σ z_T for OU with θ = 1: every element gets (1 − θh)^10.
	grad := execNodes(t, func(ctx *context.Context, in []*graph.Node) []*graph.Node {
		zs, err := diffeq.IntegrateSDE(ctx, ouSDE(1, 0, 0.5), diffeq.EulerMaruyama, in[0], ts, dt, in[1])
		if err != nil {
			panic(err)
		}
		return graph.Gradient(graph.ReduceAllSum(zs[2]), in[0])
	}, z0, bm.Increments(grid))[0]
	for i, g := range grad {
		if want := math.Pow(0.9, 10); math.Abs(g-want) > 1e-12 {
			t.Errorf("gradient element %d: %g, want %g", i, g, want)
		}
	}
}

// TestNoiseTypesOneStep checks one Euler–Maruyama step against the formula
// computed in Go, for each noise type.
func TestNoiseTypesOneStep(t *testing.T) {
	const dt = 0.1
	z := [][]float64{{1, 2}, {-1, 0.5}}
	drift := func(_ *context.Context, _, z *graph.Node) *graph.Node { return graph.MulScalar(z, -1) }
	diag := func(_ *context.Context, _, z *graph.Node) *graph.Node { return graph.AddScalar(graph.Mul(z, z), 1) }
	// General: g[b][i][j] = z[b][i]·(j+1).
	general := func(_ *context.Context, _, z *graph.Node) *graph.Node {
		js := graph.Const(z.Graph(), [][][]float64{{{1, 2, 3}}})
		return graph.Mul(graph.InsertAxes(z, -1), graph.ConvertDType(js, z.DType()))
	}
	additive := func(_ *context.Context, _, z *graph.Node) *graph.Node {
		return graph.BroadcastToDims(graph.Const(z.Graph(), [][][]float64{{{0.5, 1, 2}, {1, 0, -1}}}), z.Shape().Dimensions[0], 2, 3)
	}
	a := [2][3]float64{{0.5, 1, 2}, {1, 0, -1}}
	for _, c := range []struct {
		name string
		sde  diffeq.SDE
		dW   [][]float64
		want func(b, i int, dW [][]float64) float64
	}{
		{"diagonal", diffeq.SDE{Drift: drift, Diffusion: diag}, [][]float64{{0.3, -0.2}, {0.1, 0.4}},
			func(b, i int, dW [][]float64) float64 { return (z[b][i]*z[b][i] + 1) * dW[b][i] }},
		{"scalar", diffeq.SDE{Drift: drift, Diffusion: diag, Noise: diffeq.Scalar}, [][]float64{{0.3}, {-0.2}},
			func(b, i int, dW [][]float64) float64 { return (z[b][i]*z[b][i] + 1) * dW[b][0] }},
		{"general", diffeq.SDE{Drift: drift, Diffusion: general, Noise: diffeq.General, BrownianSize: 3}, [][]float64{{0.3, -0.2, 0.5}, {0.1, 0.4, -1}},
			func(b, i int, dW [][]float64) float64 { return z[b][i] * (dW[b][0] + 2*dW[b][1] + 3*dW[b][2]) }},
		{"additive", diffeq.SDE{Drift: drift, Diffusion: additive, Noise: diffeq.Additive, BrownianSize: 3}, [][]float64{{0.3, -0.2, 0.5}, {0.1, 0.4, -1}},
			func(b, i int, dW [][]float64) float64 { return a[i][0]*dW[b][0] + a[i][1]*dW[b][1] + a[i][2]*dW[b][2] }},
	} {
		got := execNodes(t, func(ctx *context.Context, in []*graph.Node) []*graph.Node {
			sc := func(v float64) *graph.Node { return graph.Scalar(in[0].Graph(), dtypes.Float64, v) }
			out, err := diffeq.StepSDE(ctx, c.sde, diffeq.EulerMaruyama, sc(0), sc(dt), in[0], in[1])
			if err != nil {
				panic(err)
			}
			return []*graph.Node{out}
		}, tensors.FromValue(z), tensors.FromValue(c.dW))[0]
		for b := range z {
			for i := range z[b] {
				want := z[b][i] - z[b][i]*dt + c.want(b, i, c.dW)
				if math.Abs(got[b*2+i]-want) > 1e-14 {
					t.Errorf("%s noise: z'[%d][%d] = %g, want %g", c.name, b, i, got[b*2+i], want)
				}
			}
		}
	}
}

// TestSDEErrors checks that bad input gives errors naming the culprit.
func TestSDEErrors(t *testing.T) {
	b := backend.Shared()
	ou := ouSDE(1, 0, 1)
	bm := newBM(t, 1, 0.1, 2, 1)
	z0 := constState(2, 1, 1)
	for _, c := range []struct {
		name string
		sde  diffeq.SDE
		opts diffeq.Options
		want string
	}{
		{"dt0", ou, diffeq.Options{}, "Dt"},
		{"dtNeg", ou, diffeq.Options{Dt: -1}, "Dt"},
		{"dtNaN", ou, diffeq.Options{Dt: math.NaN()}, "Dt"},
		{"noDrift", diffeq.SDE{Diffusion: ou.Diffusion}, diffeq.Options{Dt: 0.1}, "Drift"},
		{"noDiffusion", diffeq.SDE{Drift: ou.Drift}, diffeq.Options{Dt: 0.1}, "Diffusion"},
		{"noise", diffeq.SDE{Drift: ou.Drift, Diffusion: ou.Diffusion, Noise: "weird"}, diffeq.Options{Dt: 0.1}, "Noise"},
		{"generalNoM", diffeq.SDE{Drift: ou.Drift, Diffusion: ou.Diffusion, Noise: diffeq.General}, diffeq.Options{Dt: 0.1}, "BrownianSize"},
		{"heunIto", ou, diffeq.Options{Dt: 0.1, Method: diffeq.Heun}, "Stratonovich"},
		{"emStrat", gbmSDE(1, 1, diffeq.Stratonovich), diffeq.Options{Dt: 0.1, Method: diffeq.EulerMaruyama}, "Ito"},
		{"odeMethod", ou, diffeq.Options{Dt: 0.1, Method: diffeq.RK4}, "not an SDE method"},
	} {
		_, err := diffeq.NewSDESolver(b, nil, c.sde, c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
	s, err := diffeq.NewSDESolver(b, nil, ou, diffeq.Options{Dt: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	bad2, _ := diffeq.NewBrownian(1, 0, 1, 0.1, 3, 1, dtypes.Float64)
	bad32, _ := diffeq.NewBrownian(1, 0, 1, 0.1, 2, 1, dtypes.Float32)
	for _, c := range []struct {
		name string
		z0   *tensors.Tensor
		ts   []float64
		bm   *diffeq.Brownian
		want string
	}{
		{"nanZ0", tensors.FromValue([][]float64{{1}, {math.NaN()}}), []float64{0, 1}, bm, "z0"},
		{"rank", tensors.FromValue([]float64{1, 2}), []float64{0, 1}, bm, "z0"},
		{"times", z0, []float64{0, 1, 0.5}, bm, "increasing"},
		{"oneTime", z0, []float64{0}, bm, "ts"},
		{"nilBM", z0, []float64{0, 1}, nil, "bm"},
		{"bmShape", z0, []float64{0, 1}, bad2, "shape"},
		{"bmDType", z0, []float64{0, 1}, bad32, "dtype"},
	} {
		_, err := s.Solve(c.z0, c.ts, c.bm)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
	// Output shapes are checked when the graph is built.
	wrong := func(_ *context.Context, _, z *graph.Node) *graph.Node { return graph.ReduceSum(z, -1) }
	for _, c := range []struct {
		name string
		sde  diffeq.SDE
		want string
	}{
		{"drift", diffeq.SDE{Drift: wrong, Diffusion: ou.Diffusion}, "Drift"},
		{"diffusion", diffeq.SDE{Drift: ou.Drift, Diffusion: wrong}, "Diffusion"},
		{"generalShape", diffeq.SDE{Drift: ou.Drift, Diffusion: ou.Diffusion, Noise: diffeq.General, BrownianSize: 2}, "Diffusion"},
	} {
		bmc := bm
		if c.sde.Noise == diffeq.General {
			bmc, _ = diffeq.NewBrownian(1, 0, 1, 0.1, 2, 2, dtypes.Float64)
		}
		s, err := diffeq.NewSDESolver(b, nil, c.sde, diffeq.Options{Dt: 0.1})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Solve(z0, []float64{0, 1}, bmc)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
}

// TestMilsteinScalarNoise checks Milstein's strong order 1 for scalar noise
// whose diffusion mixes the components: dz = B z dW with B the rotation
// generator [[0, −1], [1, 0]], whose Ito solution is e^{T/2}·R(W_T)·z0 (R
// the rotation by W_T). Euler–Maruyama, for contrast, has order 0.5.
func TestMilsteinScalarNoise(t *testing.T) {
	rot := func(_ *context.Context, _, z *graph.Node) *graph.Node {
		b := graph.Const(z.Graph(), [][]float64{{0, 1}, {-1, 0}}) // Bᵀ
		return graph.MatMul(z, graph.ConvertDType(b, z.DType()))
	}
	zero := func(_ *context.Context, _, z *graph.Node) *graph.Node { return graph.ZerosLike(z) }
	sde := diffeq.SDE{Drift: zero, Diffusion: rot, Noise: diffeq.Scalar}
	const n = 500
	bm := newBM(t, 31, 1.0/256, n, 1)
	w := bm.Increment(0, 1)
	z0 := make([]float64, 2*n)
	for i := 0; i < n; i++ {
		z0[2*i] = 1
	}
	for _, c := range []struct {
		m      diffeq.Method
		lo, hi float64
	}{{diffeq.Milstein, 0.85, 1.2}, {diffeq.EulerMaruyama, 0.35, 0.7}} {
		var hs, errs []float64
		for k := 4; k <= 8; k++ {
			h := math.Ldexp(1, -k)
			z := solveSDE(t, sde, diffeq.Options{Method: c.m, Dt: h}, tensors.FromFlatDataAndDimensions(z0, n, 2), []float64{0, 1}, bm)
			var e float64
			for i := 0; i < n; i++ {
				s, co := math.Sincos(w[i])
				ex, ey := math.Exp(0.5)*co, math.Exp(0.5)*s
				e += math.Hypot(z[2*i]-ex, z[2*i+1]-ey)
			}
			hs, errs = append(hs, h), append(errs, e/n)
		}
		p := slope(hs, errs)
		t.Logf("%s, scalar noise: errors %.3g, order %.2f", c.m, errs, p)
		if p < c.lo || p > c.hi {
			t.Errorf("%s, scalar noise: strong order %.2f, want in [%g, %g]", c.m, p, c.lo, c.hi)
		}
	}
}

// TestIntegrateSDEGradient checks backprop through IntegrateSDE for every
// method on GBM, whose discrete solution is linear in z0 for all of them:
// ∂z_T/∂z0 = z_T/z0 element by element (Milstein differentiates through its
// own gradient).
func TestIntegrateSDEGradient(t *testing.T) {
	ts := []float64{0, 0.5}
	const dt = 0.05
	grid, _, err := diffeq.SDEGrid(ts, dt)
	if err != nil {
		t.Fatal(err)
	}
	bm := newBM(t, 4, dt, 3, 2)
	z0 := tensors.FromValue([][]float64{{1, 2}, {-0.5, 3}, {0.7, -1.2}})
	z0v, _ := diffeq.Float64s(z0)
	for _, c := range []struct {
		m   diffeq.Method
		typ diffeq.SDEType
	}{
		{diffeq.EulerMaruyama, diffeq.Ito}, {diffeq.Milstein, diffeq.Ito}, {diffeq.Heun, diffeq.Stratonovich},
		{diffeq.SDEMidpoint, diffeq.Stratonovich}, {diffeq.ReversibleHeun, diffeq.Stratonovich},
	} {
		out := execNodes(t, func(ctx *context.Context, in []*graph.Node) []*graph.Node {
			zs, err := diffeq.IntegrateSDE(ctx, gbmSDE(0.4, 0.7, c.typ), c.m, in[0], ts, dt, in[1])
			if err != nil {
				panic(err)
			}
			return []*graph.Node{zs[1], graph.Gradient(graph.ReduceAllSum(zs[1]), in[0])[0]}
		}, z0, bm.Increments(grid))
		for i, g := range out[1] {
			if want := out[0][i] / z0v[i]; math.Abs(g-want) > 1e-12*math.Max(1, math.Abs(want)) {
				t.Errorf("%s: ∂z_T/∂z0 element %d = %g, want %g", c.m, i, g, want)
			}
		}
	}
}

// TestMilsteinGradientFD checks backprop through nonlinear Milstein steps
// (diagonal noise, and scalar noise with components mixed) against central
// finite differences of L = Σ z_T² with respect to z0.
func TestMilsteinGradientFD(t *testing.T) {
	ts := []float64{0, 0.2}
	const dt, eps = 0.05, 1e-6
	grid, _, err := diffeq.SDEGrid(ts, dt)
	if err != nil {
		t.Fatal(err)
	}
	drift := func(_ *context.Context, _, z *graph.Node) *graph.Node { return graph.Neg(graph.Sin(z)) }
	diag := func(_ *context.Context, _, z *graph.Node) *graph.Node { return graph.AddScalar(graph.Sin(z), 1.5) }
	mixed := func(_ *context.Context, _, z *graph.Node) *graph.Node {
		swap := graph.ConvertDType(graph.Const(z.Graph(), [][]float64{{0, 1}, {1, 0}}), z.DType())
		return graph.Add(graph.Sin(graph.MatMul(z, swap)), graph.MulScalar(z, 0.5))
	}
	z0 := []float64{0.3, -0.8, 1.1, 0.4}
	for _, c := range []struct {
		name string
		sde  diffeq.SDE
		m    int
	}{
		{"diagonal", diffeq.SDE{Drift: drift, Diffusion: diag}, 2},
		{"scalar", diffeq.SDE{Drift: drift, Diffusion: mixed, Noise: diffeq.Scalar}, 1},
	} {
		bm := newBM(t, 6, dt, 2, c.m)
		noise := bm.Increments(grid)
		e, err := context.NewExec(backend.Shared(), context.New(), func(ctx *context.Context, z, noise *graph.Node) []*graph.Node {
			zs, err := diffeq.IntegrateSDE(ctx, c.sde, diffeq.Milstein, z, ts, dt, noise)
			if err != nil {
				panic(err)
			}
			loss := graph.ReduceAllSum(graph.Mul(zs[1], zs[1]))
			return []*graph.Node{loss, graph.Gradient(loss, z)[0]}
		})
		if err != nil {
			t.Fatal(err)
		}
		run := func(z []float64) (float64, []float64) {
			out, err := e.Exec(tensors.FromFlatDataAndDimensions(append([]float64(nil), z...), 2, 2), noise)
			if err != nil {
				t.Fatal(err)
			}
			l, _ := diffeq.Float64s(out[0])
			g, _ := diffeq.Float64s(out[1])
			return l[0], g
		}
		_, grad := run(z0)
		for i := range z0 {
			zp, zm := append([]float64(nil), z0...), append([]float64(nil), z0...)
			zp[i] += eps
			zm[i] -= eps
			lp, _ := run(zp)
			lm, _ := run(zm)
			if fd := (lp - lm) / (2 * eps); math.Abs(fd-grad[i]) > 1e-7*math.Max(1, math.Abs(fd)) {
				t.Errorf("%s noise: ∂L/∂z0[%d] = %g, finite differences %g", c.name, i, grad[i], fd)
			}
		}
	}
}

// TestSDENonFinite checks that NaN or Inf produced during a fixed-step
// solve stops it with the time, the step and the function at fault: a drift
// or a diffusion √(0.35 − t), NaN from t = 0.4 (the start of step 5 with
// dt = 0.1), found whatever the chunk length; and an update z + h·f that
// overflows float64 while f is finite (z0 = f = 1e308, h = 1).
func TestSDENonFinite(t *testing.T) {
	b := backend.Shared()
	root := func(_ *context.Context, tt, z *graph.Node) *graph.Node {
		return graph.Mul(graph.OnesLike(z), graph.Sqrt(graph.Sub(graph.Scalar(z.Graph(), z.DType(), 0.35), tt)))
	}
	zero := func(_ *context.Context, _, z *graph.Node) *graph.Node { return graph.ZerosLike(z) }
	ident := func(_ *context.Context, _, z *graph.Node) *graph.Node { return z }
	bm := newBM(t, 1, 0.1, 2, 1)
	for _, c := range []struct {
		name  string
		sde   diffeq.SDE
		opts  diffeq.Options
		z0    float64
		t1    float64
		wants []string
	}{
		{"drift", diffeq.SDE{Drift: root, Diffusion: zero}, diffeq.Options{Dt: 0.1}, 1, 1, []string{"SDE.Drift", "t=0.4", "step 5"}},
		{"driftChunk3", diffeq.SDE{Drift: root, Diffusion: zero}, diffeq.Options{Dt: 0.1, Chunk: 3}, 1, 1, []string{"SDE.Drift", "t=0.4", "step 5"}},
		{"diffusion", diffeq.SDE{Drift: zero, Diffusion: root}, diffeq.Options{Dt: 0.1, Chunk: 2}, 1, 1, []string{"SDE.Diffusion", "t=0.4", "step 5"}},
		{"reversibleHeun", diffeq.SDE{Drift: root, Diffusion: zero, Type: diffeq.Stratonovich},
			diffeq.Options{Dt: 0.1, Chunk: 3, Method: diffeq.ReversibleHeun}, 1, 1, []string{"SDE.Drift", "t=0.4", "end of step 4"}},
		{"overflow", diffeq.SDE{Drift: ident, Diffusion: zero}, diffeq.Options{Dt: 1}, 1e308, 1, []string{"overflowed", "t=0 to t=1", "step 1"}},
	} {
		s, err := diffeq.NewSDESolver(b, nil, c.sde, c.opts)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Solve(constState(2, 1, c.z0), []float64{0, c.t1}, bm)
		if !errors.Is(err, diffeq.ErrNonFinite) {
			t.Errorf("%s: error %v, want ErrNonFinite", c.name, err)
			continue
		}
		for _, w := range c.wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", c.name, err, w)
			}
		}
	}
	// A sharded solve passes the error on from the shard that met it.
	sh, err := diffeq.NewShardedSDESolver(b, nil, diffeq.SDE{Drift: root, Diffusion: zero}, diffeq.Options{Dt: 0.1, Chunk: 4}, 2)
	if err != nil {
		t.Fatal(err)
	}
	bm4 := newBM(t, 1, 0.1, 4, 1)
	if _, err := sh.Solve(constState(4, 1, 1), []float64{0, 1}, bm4); !errors.Is(err, diffeq.ErrNonFinite) ||
		!strings.Contains(err.Error(), "SDE.Drift returned non-finite values at t=0.4 (step 5)") {
		t.Errorf("sharded: error %v, want ErrNonFinite naming SDE.Drift at t=0.4, step 5", err)
	}
	// The check costs nothing when all is finite: the same solver, stopped
	// before t = 0.35, returns √(0.35 − t) integrated by Euler steps.
	s, err := diffeq.NewSDESolver(b, nil, diffeq.SDE{Drift: root, Diffusion: zero}, diffeq.Options{Dt: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	sol, err := s.Solve(constState(2, 1, 1), []float64{0, 0.3}, bm)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := diffeq.Float64s(sol.Ys[1])
	want := 1 + 0.1*(math.Sqrt(0.35)+math.Sqrt(0.25)+math.Sqrt(0.15))
	if math.Abs(got[0]-want) > 1e-12 {
		t.Errorf("finite solve: z(0.3) = %.15g, want %.15g", got[0], want)
	}
}

// TestStepsIn checks the step counts and the refusal of a step so small
// that span/dt overflows (the count used to wrap to a negative int and the
// solve returned z0 with no error).
func TestStepsIn(t *testing.T) {
	for _, c := range []struct {
		span, dt float64
		want     int
	}{{1, 0.1, 10}, {1, 0.3, 4}, {1, 0, 1}, {1, 2, 1}, {0.3, 0.1, 3}, {1, 1.0 / (1 << 20), 1 << 20}} {
		n, err := diffeq.StepsIn(c.span, c.dt)
		if err != nil || n != c.want {
			t.Errorf("StepsIn(%g, %g) = %d, %v; want %d", c.span, c.dt, n, err, c.want)
		}
	}
	for _, c := range []struct{ span, dt float64 }{{1, 1e-300}, {1e10, 1e-10}, {1, math.NaN()}, {math.Inf(1), 1}} {
		if n, err := diffeq.StepsIn(c.span, c.dt); err == nil || !strings.Contains(err.Error(), "dt=") {
			t.Errorf("StepsIn(%g, %g) = %d, %v; want an error naming dt", c.span, c.dt, n, err)
		}
	}
	// Solvers and grids pass the error on, naming the option.
	s, err := diffeq.NewSDESolver(backend.Shared(), nil, ouSDE(1, 0, 1), diffeq.Options{Dt: 1e-300})
	if err != nil {
		t.Fatal(err)
	}
	bm := newBM(t, 1, 0.1, 2, 1)
	if _, err := s.Solve(constState(2, 1, 1), []float64{0, 1}, bm); err == nil || !strings.Contains(err.Error(), "Options.Dt") {
		t.Errorf("SDESolver.Solve with Dt 1e-300: error %v, want one naming Options.Dt", err)
	}
	if _, _, err := diffeq.SDEGrid([]float64{0, 1}, 1e-300); err == nil || !strings.Contains(err.Error(), "dt=1e-300") {
		t.Errorf("SDEGrid dt 1e-300: error %v", err)
	}
	// 10⁹ steps fit an int but not memory: refused before the grid is allocated.
	if _, _, err := diffeq.SDEGrid([]float64{0, 1}, 1e-9); err == nil || !strings.Contains(err.Error(), "dt=1e-09") {
		t.Errorf("SDEGrid dt 1e-9: error %v", err)
	}
	g := graph.NewGraph(backend.Shared(), "integrateConst")
	defer g.Finalize()
	z0 := graph.Const(g, [][]float64{{1}})
	f := func(_ *context.Context, _, z *graph.Node) *graph.Node { return graph.Neg(z) }
	if _, err := diffeq.IntegrateConst(context.New(), diffeq.Euler, f, z0, []float64{0, 1}, 1e-300); err == nil || !strings.Contains(err.Error(), "dt=1e-300") {
		t.Errorf("IntegrateConst dt 1e-300: error %v", err)
	}
}

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
)

// spiral is dz/dt = A z with A = [[-0.1, 1], [-1, -0.1]], in row form z·Aᵀ.
func spiral(ctx *context.Context, t, z *graph.Node) *graph.Node {
	at := graph.Const(z.Graph(), [][]float64{{-0.1, -1}, {1, -0.1}}) // Aᵀ
	return graph.MatMul(z, graph.ConvertDType(at, z.DType()))
}

// spiralExact is exp(A t) z0 = e^{-0.1t} [[cos t, sin t], [-sin t, cos t]] z0.
func spiralExact(z0 [2]float64, t float64) [2]float64 {
	e, c, s := math.Exp(-0.1*t), math.Cos(t), math.Sin(t)
	return [2]float64{e * (c*z0[0] + s*z0[1]), e * (-s*z0[0] + c*z0[1])}
}

// slope fits log(err) = p·log(h) + c by least squares and returns p.
func slope(hs, errs []float64) float64 {
	var sx, sy, sxx, sxy float64
	n := float64(len(hs))
	for i := range hs {
		x, y := math.Log(hs[i]), math.Log(errs[i])
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}

func solveSpiral(t *testing.T, opts diffeq.Options, ts []float64) (*diffeq.Solution, [][]float64) {
	t.Helper()
	s, err := diffeq.NewODESolver(backend.Shared(), context.New(), spiral, opts)
	if err != nil {
		t.Fatal(err)
	}
	z0 := tensors.FromValue([][]float64{{2, 0}, {0.5, -1}})
	sol, err := s.Solve(z0, ts)
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]float64, len(sol.Ys))
	for i, y := range sol.Ys {
		out[i], _ = diffeq.Float64s(y)
	}
	return sol, out
}

// maxRelErr compares the solution against exp(A t) z0 for both batch rows.
func maxRelErr(ts []float64, ys [][]float64) (absErr, relErr float64) {
	z0s := [][2]float64{{2, 0}, {0.5, -1}}
	for i, t := range ts {
		for b, z0 := range z0s {
			ex := spiralExact(z0, t)
			for k := 0; k < 2; k++ {
				d := math.Abs(ys[i][2*b+k] - ex[k])
				absErr = math.Max(absErr, d)
				relErr = math.Max(relErr, d/math.Max(math.Abs(ex[k]), 1e-3))
			}
		}
	}
	return
}

// TestFixedStepOrder measures the order of global error at T=5 over 5 step
// sizes: about 1 (Euler), 2 (midpoint) and 4 (RK4).
func TestFixedStepOrder(t *testing.T) {
	hs := []float64{0.25, 0.125, 0.0625, 0.03125, 0.015625}
	for _, tc := range []struct {
		m    diffeq.Method
		want float64
	}{{diffeq.Euler, 1}, {diffeq.Midpoint, 2}, {diffeq.RK4, 4}} {
		errs := make([]float64, len(hs))
		for i, h := range hs {
			ts := []float64{0, 2.5, 5}
			sol, ys := solveSpiral(t, diffeq.Options{Method: tc.m, Dt: h}, ts)
			errs[i], _ = maxRelErr(ts, ys)
			if want := int(math.Round(5 / h)); sol.Steps != want {
				t.Errorf("%s h=%g: %d steps, want %d", tc.m, h, sol.Steps, want)
			}
			if want := sol.Steps * tc.m.NFEPerStep(); sol.NFE != want {
				t.Errorf("%s: NFE %d, want %d", tc.m, sol.NFE, want)
			}
		}
		p := slope(hs, errs)
		t.Logf("%s: errors %.3g, measured order %.3f", tc.m, errs, p)
		if math.Abs(p-tc.want) > 0.15 {
			t.Errorf("%s: measured order %.3f, want about %g", tc.m, p, tc.want)
		}
	}
}

// TestDopri5Tolerance checks Dopri5 against the closed form at 20 save times.
func TestDopri5Tolerance(t *testing.T) {
	ts := make([]float64, 21)
	for i := range ts {
		ts[i] = 0.5 * float64(i)
	}
	for _, tol := range []float64{1e-6, 1e-9} {
		sol, ys := solveSpiral(t, diffeq.Options{Method: diffeq.Dopri5, RTol: tol, ATol: tol}, ts)
		abs, rel := maxRelErr(ts, ys)
		t.Logf("tol %g: max abs error %.3g, rel %.3g, %d steps, %d rejected, NFE %d", tol, abs, rel, sol.Steps, sol.Rejected, sol.NFE)
		if abs > 10*tol*2 {
			t.Errorf("tol %g: max abs error %.3g exceeds 10·tol·|z0|", tol, abs)
		}
		if sol.NFE != 1+6*(sol.Steps+sol.Rejected) {
			t.Errorf("NFE %d, want 1+6·(steps+rejected) = %d", sol.NFE, 1+6*(sol.Steps+sol.Rejected))
		}
	}
}

// TestIntegrateInGraph checks the unrolled in-graph solve against the closed
// form and its gradient d z(T)/d z0 against exp(A T).
func TestIntegrateInGraph(t *testing.T) {
	b := backend.Shared()
	ctx := context.New()
	T := 3.0
	outs, err := context.ExecOnceN(b, ctx, func(ctx *context.Context, z0, ts *graph.Node) []*graph.Node {
		zs, err := diffeq.Integrate(ctx, diffeq.RK4, spiral, z0, ts, 60)
		if err != nil {
			panic(err)
		}
		zT := zs[len(zs)-1]
		// d(sum of first coordinate)/dz0 = first column of exp(AT) as a row.
		loss := graph.ReduceAllSum(graph.Slice(zT, graph.AxisRange(), graph.AxisElem(0)))
		return []*graph.Node{zT, graph.Gradient(loss, z0)[0]}
	}, [][]float64{{2, 0}}, []float64{0, T / 2, T})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := diffeq.Float64s(outs[0])
	ex := spiralExact([2]float64{2, 0}, T)
	for k := range 2 {
		if d := math.Abs(got[k] - ex[k]); d > 1e-7 {
			t.Errorf("z(T)[%d] = %g, want %g (diff %g)", k, got[k], ex[k], d)
		}
	}
	grad, _ := diffeq.Float64s(outs[1])
	// z_T[0] = e^{-0.1T}(cos T·z0[0] + sin T·z0[1]).
	e := math.Exp(-0.1 * T)
	want := []float64{e * math.Cos(T), e * math.Sin(T)}
	for k := range 2 {
		if d := math.Abs(grad[k] - want[k]); d > 1e-7 {
			t.Errorf("gradient[%d] = %g, want %g", k, grad[k], want[k])
		}
	}
}

func TestBadInput(t *testing.T) {
	b := backend.Shared()
	s, err := diffeq.NewODESolver(b, nil, spiral, diffeq.Options{Method: diffeq.RK4, Dt: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	good := tensors.FromValue([][]float64{{1, 0}})
	for _, tc := range []struct {
		name string
		z0   *tensors.Tensor
		ts   []float64
		want string
	}{
		{"decreasing", good, []float64{0, 1, 0.5}, "strictly increasing"},
		{"nan time", good, []float64{0, math.NaN()}, "not finite"},
		{"one time", good, []float64{0}, "at least 2"},
		{"nan z0", tensors.FromValue([][]float64{{math.NaN(), 0}}), []float64{0, 1}, "z0 holds a non-finite"},
		{"rank", tensors.FromValue([]float64{1, 0}), []float64{0, 1}, "(batch, d)"},
		{"dtype", tensors.FromValue([][]int32{{1, 0}}), []float64{0, 1}, "Float32 or Float64"},
	} {
		_, err := s.Solve(tc.z0, tc.ts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := diffeq.NewODESolver(b, nil, spiral, diffeq.Options{Dt: -1}); err == nil || !strings.Contains(err.Error(), "Options.Dt") {
		t.Errorf("negative Dt: error %v, want one naming Options.Dt", err)
	}
	if _, err := diffeq.NewODESolver(b, nil, spiral, diffeq.Options{Method: "heun"}); err == nil || !strings.Contains(err.Error(), "Options.Method") {
		t.Errorf("SDE method: error %v, want one naming Options.Method", err)
	}
}

// TestStepUnderflowDefault: with the default MinDt (16 ulps of t) the blow-up
// of dz/dt = z² at t = 1 stops the solve there, with few attempts, for every
// adaptive method.
func TestStepUnderflowDefault(t *testing.T) {
	blowup := func(ctx *context.Context, t, z *graph.Node) *graph.Node { return graph.Mul(z, z) }
	for _, m := range []diffeq.Method{diffeq.Dopri5, diffeq.Tsit5, diffeq.Bosh3, diffeq.Dopri8, diffeq.Kvaerno5} {
		s, err := diffeq.NewODESolver(backend.Shared(), nil, blowup, diffeq.Options{Method: m, MaxSteps: 5000})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Solve(tensors.FromValue([][]float64{{1}}), []float64{0, 2})
		if !errors.Is(err, diffeq.ErrStepUnderflow) && !errors.Is(err, diffeq.ErrNonFinite) {
			t.Errorf("%s through a blow-up: error %v, want ErrStepUnderflow or ErrNonFinite", m, err)
			continue
		}
		if !strings.Contains(err.Error(), "t=0.99") && !strings.Contains(err.Error(), "t=1") {
			t.Errorf("%s: error %q should say where (near t=1)", m, err)
		}
	}
}

// TestStepUnderflow: dz/dt = z² from z0 = 1 blows up at t = 1.
func TestStepUnderflow(t *testing.T) {
	blowup := func(ctx *context.Context, t, z *graph.Node) *graph.Node { return graph.Mul(z, z) }
	s, err := diffeq.NewODESolver(backend.Shared(), nil, blowup, diffeq.Options{Method: diffeq.Dopri5, MinDt: 1e-8})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Solve(tensors.FromValue([][]float64{{1}}), []float64{0, 2})
	if !errors.Is(err, diffeq.ErrStepUnderflow) && !errors.Is(err, diffeq.ErrMaxSteps) {
		t.Fatalf("solve through a blow-up: error %v, want ErrStepUnderflow", err)
	}
	if !strings.Contains(err.Error(), "t=0.99") && !strings.Contains(err.Error(), "t=1") {
		t.Errorf("error %q should say where (near t=1)", err)
	}
	t.Log(err)
}

func TestFloat32(t *testing.T) {
	s, err := diffeq.NewODESolver(backend.Shared(), nil, spiral, diffeq.Options{Method: diffeq.RK4, Dt: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	sol, err := s.Solve(tensors.FromValue([][]float32{{2, 0}}), []float64{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	if sol.Ys[1].DType() != dtypes.Float32 {
		t.Fatalf("dtype %s, want Float32", sol.Ys[1].DType())
	}
	got, _ := diffeq.Float64s(sol.Ys[1])
	ex := spiralExact([2]float64{2, 0}, 1)
	if math.Abs(got[0]-ex[0]) > 1e-5 || math.Abs(got[1]-ex[1]) > 1e-5 {
		t.Errorf("float32 solve %v, want %v", got, ex)
	}
}

// TestFieldChecks holds the checks of issue 15 on the ODE side: a vector
// field whose output has another shape or dtype than the state, NaN produced
// during fixed-step and adaptive solves, and tolerances below what the dtype
// resolves each give an error that says what and where.
func TestFieldChecks(t *testing.T) {
	b := backend.Shared()
	z0 := tensors.FromValue([][]float64{{1, 2}, {3, 4}})
	solve := func(f diffeq.Func, ctx *context.Context, opts diffeq.Options, ts []float64) error {
		s, err := diffeq.NewODESolver(b, ctx, f, opts)
		if err != nil {
			return err
		}
		_, err = s.Solve(z0, ts)
		return err
	}
	// Output (batch, 1) for a (batch, 2) state: used to broadcast silently.
	narrow := func(ctx *context.Context, t, z *graph.Node) *graph.Node {
		return graph.Slice(z, graph.AxisRange(), graph.AxisElem(0))
	}
	// Output converted to Float32 for a Float64 state.
	f32out := func(ctx *context.Context, t, z *graph.Node) *graph.Node {
		return graph.ConvertDType(graph.Neg(z), dtypes.Float32)
	}
	// Weights stored as Float32, used with a Float64 state.
	f32weights := func(ctx *context.Context, t, z *graph.Node) *graph.Node {
		w := ctx.VariableWithValue("w", [][]float32{{0, 1}, {-1, 0}}).ValueGraph(z.Graph())
		return graph.MatMul(z, w)
	}
	for _, m := range []diffeq.Method{diffeq.RK4, diffeq.Dopri5, diffeq.Tsit5} {
		err := solve(narrow, nil, diffeq.Options{Method: m, Dt: 0.1}, []float64{0, 1})
		if err == nil || !strings.Contains(err.Error(), "returned shape (Float64)[2 1] for a state of shape (Float64)[2 2]") {
			t.Errorf("%s, output of another shape: error %v, want one naming both shapes", m, err)
		}
		err = solve(f32out, nil, diffeq.Options{Method: m, Dt: 0.1}, []float64{0, 1})
		if err == nil || !strings.Contains(err.Error(), "returned dtype Float32 for a state of dtype Float64") {
			t.Errorf("%s, Float32 output: error %v, want one naming both dtypes", m, err)
		}
		wctx := context.New()
		wctx.VariableWithValue("w", [][]float32{{0, 1}, {-1, 0}})
		err = solve(f32weights, wctx, diffeq.Options{Method: m, Dt: 0.1}, []float64{0, 1})
		if err == nil || !strings.Contains(err.Error(), "failed on a state of dtype Float64") || !strings.Contains(err.Error(), "/w is Float32") {
			t.Errorf("%s, Float32 weights: error %v, want one naming the state's dtype and the Float32 variable", m, err)
		}
	}

	// f is NaN for t > 0.5 (sqrt of a negative number).
	nanAfter := func(ctx *context.Context, t, z *graph.Node) *graph.Node {
		return graph.Mul(z, graph.Sqrt(graph.Sub(graph.Scalar(z.Graph(), z.DType(), 0.5), t)))
	}
	// RK4 with dt = 0.1: the 6th step (from t=0.5) evaluates f at t=0.55.
	err := solve(nanAfter, nil, diffeq.Options{Method: diffeq.RK4, Dt: 0.1}, []float64{0, 0.3, 1})
	if !errors.Is(err, diffeq.ErrNonFinite) || !strings.Contains(err.Error(), "vector field returned non-finite values in the step from t=0.5 to t=0.6 (step 6)") {
		t.Errorf("RK4 through NaN: error %v, want ErrNonFinite at the step from t=0.5 (step 6)", err)
	}
	for _, m := range []diffeq.Method{diffeq.Dopri5, diffeq.Tsit5, diffeq.Dopri8} {
		err = solve(nanAfter, nil, diffeq.Options{Method: m}, []float64{0, 1})
		if !errors.Is(err, diffeq.ErrNonFinite) || errors.Is(err, diffeq.ErrStepUnderflow) ||
			!strings.Contains(err.Error(), "vector field returned non-finite values") || !strings.Contains(err.Error(), "from t=0.5") {
			t.Errorf("%s through NaN: error %v, want ErrNonFinite from t≈0.5 (not a step underflow)", m, err)
		}
	}
	// NaN at the initial state.
	err = solve(nanAfter, nil, diffeq.Options{Method: diffeq.Dopri5}, []float64{0.6, 1})
	if !errors.Is(err, diffeq.ErrNonFinite) || !strings.Contains(err.Error(), "at t=0.6 (step 0") {
		t.Errorf("Dopri5 with f(t0, z0) = NaN: error %v, want ErrNonFinite at t=0.6, step 0", err)
	}

	// Tolerances below the dtype's resolution are refused before any step.
	for _, tc := range []struct {
		z0   *tensors.Tensor
		rtol float64
		want string
	}{
		{z0, 1e-300, "Options.RTol = 1e-300 is below the Float64 machine epsilon"},
		{tensors.FromValue([][]float32{{1, 2}}), 1e-9, "Options.RTol = 1e-09 is below the Float32 machine epsilon"},
	} {
		s, err := diffeq.NewODESolver(b, nil, spiral, diffeq.Options{Method: diffeq.Dopri5, RTol: tc.rtol, ATol: tc.rtol})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Solve(tc.z0, []float64{0, 1})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("rtol %g for %s: error %v, want %q", tc.rtol, tc.z0.DType(), err, tc.want)
		}
	}
}

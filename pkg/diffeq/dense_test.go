package diffeq_test

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/diffeq"
)

// TestDenseOutput checks Dopri5's dense output against the closed form at
// 201 save times, and that it needs far fewer steps than stopping at each.
func TestDenseOutput(t *testing.T) {
	ts := make([]float64, 201)
	for i := range ts {
		ts[i] = 0.05 * float64(i)
	}
	for _, tol := range []float64{1e-6, 1e-9} {
		dense, ys := solveSpiral(t, diffeq.Options{Method: diffeq.Dopri5, RTol: tol, ATol: tol, Dense: true}, ts)
		abs, _ := maxRelErr(ts, ys)
		stop, _ := solveSpiral(t, diffeq.Options{Method: diffeq.Dopri5, RTol: tol, ATol: tol}, ts)
		t.Logf("tol %g: dense max abs error %.3g with %d steps (NFE %d); stopping at save times: %d steps (NFE %d)",
			tol, abs, dense.Steps, dense.NFE, stop.Steps, stop.NFE)
		if abs > 10*tol*2 {
			t.Errorf("tol %g: dense output max abs error %.3g exceeds 10·tol·|z0|", tol, abs)
		}
		if len(dense.Ys) != len(ts) || len(dense.StepsPerInterval) != len(ts)-1 {
			t.Fatalf("%d states and %d intervals for %d save times", len(dense.Ys), len(dense.StepsPerInterval), len(ts))
		}
		if dense.Steps != len(dense.StepTimes)-1 || dense.StepTimes[len(dense.StepTimes)-1] != ts[len(ts)-1] {
			t.Errorf("step times %v do not match %d steps ending at %g", dense.StepTimes, dense.Steps, ts[len(ts)-1])
		}
		if float64(dense.NFE) > 0.8*float64(stop.NFE) {
			t.Errorf("dense output took NFE %d, stopping at save times %d: want at most 80%%", dense.NFE, stop.NFE)
		}
	}
}

// TestDenseOutputOrder checks the continuous extension's local order: one
// step of z' = z from 0 to h, evaluated at θ = 0.37, has error O(h⁵).
func TestDenseOutputOrder(t *testing.T) {
	hs := []float64{0.4, 0.2, 0.1, 0.05}
	errs := make([]float64, len(hs))
	grow := func(ctx *context.Context, _, z *graph.Node) *graph.Node { return z }
	for i, h := range hs {
		s, err := diffeq.NewODESolver(backend.Shared(), context.New(), grow, diffeq.Options{Method: diffeq.Dopri5, Dt: h, RTol: 1, ATol: 1, Dense: true})
		if err != nil {
			t.Fatal(err)
		}
		theta := 0.37
		sol, err := s.Solve(tensors.FromValue([][]float64{{1}}), []float64{0, theta * h, h})
		if err != nil {
			t.Fatal(err)
		}
		if sol.Steps != 1 {
			t.Fatalf("h=%g: %d steps, want 1", h, sol.Steps)
		}
		v, _ := diffeq.Float64s(sol.Ys[1])
		errs[i] = math.Abs(v[0] - math.Exp(theta*h))
	}
	p := slope(hs, errs)
	t.Logf("dense output errors %.3g, local order %.2f", errs, p)
	if p < 4.6 || p > 5.6 {
		t.Errorf("local order of the dense output %.2f, want about 5", p)
	}
}

// TestIntegratePlan rebuilds a host dense solve in a graph from its steps
// (same states to 1e-12) and checks the graph's gradient dz(T)/dz0 against
// exp(A T).
func TestIntegratePlan(t *testing.T) {
	ts := []float64{0, 0.3, 1.1, 1.15, 2.5, 3}
	// A loose tolerance keeps the unrolled graph small (XLA's compile time
	// grows quickly with the number of steps).
	sol, ys := solveSpiral(t, diffeq.Options{Method: diffeq.Dopri5, RTol: 1e-6, ATol: 1e-6, Dense: true}, ts)
	plan, err := diffeq.NewStepPlan(sol.StepTimes, ts)
	if err != nil {
		t.Fatal(err)
	}
	n := diffeq.PaddedLen(plan.Len())
	t.Logf("%d steps, graph built with %d", plan.Len(), n)
	steps, weights, err := plan.Inputs(dtypes.Float64, n)
	if err != nil {
		t.Fatal(err)
	}
	outs, err := context.ExecOnceN(backend.Shared(), context.New(), func(ctx *context.Context, in []*graph.Node) []*graph.Node {
		zs, err := diffeq.IntegratePlan(ctx, spiral, in[0], in[1], in[2])
		if err != nil {
			panic(err)
		}
		zT := zs[len(zs)-1]
		loss := graph.ReduceAllSum(graph.Slice(zT, graph.AxisElem(0), graph.AxisElem(0)))
		return append(zs, graph.Gradient(loss, in[0])[0])
	}, tensors.FromValue([][]float64{{2, 0}, {0.5, -1}}), steps, weights)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ts {
		got, _ := diffeq.Float64s(outs[i])
		for k := range got {
			if d := math.Abs(got[k] - ys[i][k]); d > 1e-12 {
				t.Errorf("save %d (t=%g) element %d: graph %g, host %g", i, ts[i], k, got[k], ys[i][k])
			}
		}
	}
	grad, _ := diffeq.Float64s(outs[len(ts)])
	T, e := ts[len(ts)-1], math.Exp(-0.1*ts[len(ts)-1])
	want := []float64{e * math.Cos(T), e * math.Sin(T), 0, 0}
	for k := range want {
		if d := math.Abs(grad[k] - want[k]); d > 2e-5 {
			t.Errorf("gradient[%d] = %g, want %g", k, grad[k], want[k])
		}
	}
}

func TestStepPlanErrors(t *testing.T) {
	for _, tc := range []struct {
		steps, ts []float64
		want      string
	}{
		{[]float64{0, 1}, []float64{0, 1.5}, "ts[1] = 1.5 lies outside"},
		{[]float64{0, 1, 1}, []float64{0, 1}, "stepTimes"},
		{[]float64{0, 1}, []float64{0, math.NaN()}, "ts"},
	} {
		_, err := diffeq.NewStepPlan(tc.steps, tc.ts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewStepPlan(%v, %v): error %v, want one naming %q", tc.steps, tc.ts, err, tc.want)
		}
	}
	p, err := diffeq.NewStepPlan([]float64{0, 0.5, 1}, []float64{0, 0.25, 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Inputs(dtypes.Float32, 1); err == nil || !strings.Contains(err.Error(), "n = 1") {
		t.Errorf("Inputs with too few steps: error %v", err)
	}
	if got := []int{diffeq.PaddedLen(5), diffeq.PaddedLen(9), diffeq.PaddedLen(33), diffeq.PaddedLen(100)}; got[0] != 5 || got[1] != 10 || got[2] != 40 || got[3] != 112 {
		t.Errorf("PaddedLen(5, 9, 33, 100) = %v, want [5 10 40 112]", got)
	}
}

// TestStepTimes: the steps-only solve takes the same steps and evaluations
// as Solve, and needs Dopri5.
func TestStepTimes(t *testing.T) {
	ts := []float64{0, 0.3, 1.1, 1.15, 2.5, 3}
	opts := diffeq.Options{Method: diffeq.Dopri5, RTol: 1e-7, ATol: 1e-7, Dense: true}
	sol, _ := solveSpiral(t, opts, ts)
	s, err := diffeq.NewODESolver(backend.Shared(), context.New(), spiral, opts)
	if err != nil {
		t.Fatal(err)
	}
	steps, nfe, err := s.StepTimes(tensors.FromValue([][]float64{{2, 0}, {0.5, -1}}), ts)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(steps, sol.StepTimes) || nfe != sol.NFE {
		t.Errorf("StepTimes: %v (NFE %d), Solve: %v (NFE %d)", steps, nfe, sol.StepTimes, sol.NFE)
	}
	rk, err := diffeq.NewODESolver(backend.Shared(), context.New(), spiral, diffeq.Options{Method: diffeq.RK4})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := rk.StepTimes(tensors.FromValue([][]float64{{2, 0}}), ts); err == nil || !strings.Contains(err.Error(), "dopri5") {
		t.Errorf("StepTimes with RK4: error %v", err)
	}
}

// TestIntegratePlanChecked: the plan of a host solve meets its tolerance in
// the graph (largest error ratio ≤ 1); the same plan on a field five times
// faster does not.
func TestIntegratePlanChecked(t *testing.T) {
	ts := []float64{0, 1, 2, 3}
	opts := diffeq.Options{Method: diffeq.Dopri5, RTol: 1e-6, ATol: 1e-6, Dense: true}
	sol, _ := solveSpiral(t, opts, ts)
	plan, err := diffeq.NewStepPlan(sol.StepTimes, ts)
	if err != nil {
		t.Fatal(err)
	}
	steps, weights, err := plan.Inputs(dtypes.Float64, diffeq.PaddedLen(plan.Len()))
	if err != nil {
		t.Fatal(err)
	}
	fast := func(ctx *context.Context, tt, z *graph.Node) *graph.Node {
		return graph.MulScalar(spiral(ctx, tt, z), 5)
	}
	for _, tc := range []struct {
		f      diffeq.Func
		within bool
	}{{spiral, true}, {fast, false}} {
		out, err := context.ExecOnceN(backend.Shared(), context.New(), func(ctx *context.Context, in []*graph.Node) []*graph.Node {
			_, r, err := diffeq.IntegratePlanChecked(ctx, tc.f, in[0], in[1], in[2], opts)
			if err != nil {
				panic(err)
			}
			return []*graph.Node{r}
		}, tensors.FromValue([][]float64{{2, 0}, {0.5, -1}}), steps, weights)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := diffeq.Float64s(out[0])
		t.Logf("within tolerance %v: largest error ratio %.3g", tc.within, r[0])
		if (r[0] <= 1) != tc.within {
			t.Errorf("largest error ratio %.3g, want ≤ 1: %v", r[0], tc.within)
		}
	}
}

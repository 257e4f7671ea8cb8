package diffeq_test

import (
	"errors"
	"math"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/diffeq"
)

// unit returns the (d, 1) column e_i or, transposed, the (1, d) row.
func unit(z *graph.Node, i int, row bool) *graph.Node {
	d := z.Shape().Dim(1)
	v := make([]float64, d)
	v[i] = 1
	var c *graph.Node
	if row {
		c = graph.Const(z.Graph(), [][]float64{v})
	} else {
		c = graph.Reshape(graph.Const(z.Graph(), v), d, 1)
	}
	return graph.ConvertDType(c, z.DType())
}

// comp returns component i of z (batch, d) as (batch, 1), by a product
// with e_i (differentiable on every backend, unlike Slice).
func comp(z *graph.Node, i int) *graph.Node { return graph.MatMul(z, unit(z, i, false)) }

// assemble returns Σ cs[i]·e_iᵀ, shaped (batch, d).
func assemble(z *graph.Node, cs ...*graph.Node) *graph.Node {
	var out *graph.Node
	for i, c := range cs {
		term := graph.MatMul(c, unit(z, i, true))
		if out == nil {
			out = term
		} else {
			out = graph.Add(out, term)
		}
	}
	return out
}

// robertson is Robertson's chemical kinetics (Hairer & Wanner, Solving ODEs
// II, IV.1): rates 0.04, 3e7 and 1e4.
func robertson(ctx *context.Context, t, z *graph.Node) *graph.Node {
	y1, y2, y3 := comp(z, 0), comp(z, 1), comp(z, 2)
	r1 := graph.MulScalar(y1, 0.04)
	r2 := graph.MulScalar(graph.Mul(y2, y2), 3e7)
	r3 := graph.MulScalar(graph.Mul(y2, y3), 1e4)
	return assemble(z, graph.Sub(r3, r1), graph.Sub(graph.Sub(r1, r3), r2), r2)
}

// vanDerPol is x' = y, y' = μ(1 − x²)y − x with μ = 1000.
func vanDerPol(ctx *context.Context, t, z *graph.Node) *graph.Node {
	const mu = 1000
	x, y := comp(z, 0), comp(z, 1)
	one := graph.OnesLike(x)
	return assemble(z, y, graph.Sub(graph.MulScalar(graph.Mul(graph.Sub(one, graph.Mul(x, x)), y), mu), x))
}

// stiffSolve solves with opts and returns the solution and all save states
// flattened.
func stiffSolve(t *testing.T, f diffeq.Func, z0, ts []float64, opts diffeq.Options) (*diffeq.Solution, []float64, error) {
	t.Helper()
	s, err := diffeq.NewODESolver(backend.Shared(), context.New(), f, opts)
	if err != nil {
		t.Fatal(err)
	}
	sol, err := s.Solve(tensors.FromValue([][]float64{z0}), ts)
	if err != nil {
		return nil, nil, err
	}
	var all []float64
	for _, y := range sol.Ys {
		v, _ := diffeq.Float64s(y)
		all = append(all, v...)
	}
	return sol, all, nil
}

// TestStiffKvaerno5: Robertson's kinetics over [0, 4e10] (rtol 1e-6, atol
// 1e-10) and Van der Pol with μ = 1000 over [0, 3000] (rtol = atol = 1e-6).
// Kvaerno5 finishes in a few hundred steps and matches, at every save
// time, a reference computed by Kvaerno5 at rtol 1e-10 to within 10·(atol +
// rtol·|ref|); Robertson's y1 + y2 + y3 = 1 holds to 1e-12. Dopri5 hits a
// step limit of 2,000 on both.
func TestStiffKvaerno5(t *testing.T) {
	for _, tc := range []struct {
		name       string
		f          diffeq.Func
		z0, ts     []float64
		rtol, atol float64
		maxSteps   int // most steps Kvaerno5 may take
	}{
		{"robertson", robertson, []float64{1, 0, 0}, []float64{0, 0.4, 40, 4e3, 4e5, 4e7, 4e10}, 1e-6, 1e-10, 300},
		{"vanderpol", vanDerPol, []float64{2, 0}, []float64{0, 1000, 2000, 3000}, 1e-6, 1e-6, 500},
	} {
		opts := diffeq.Options{Method: diffeq.Kvaerno5, RTol: tc.rtol, ATol: tc.atol}
		sol, got, err := stiffSolve(t, tc.f, tc.z0, tc.ts, opts)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		tight := opts
		tight.RTol, tight.ATol = 1e-10, tc.atol*1e-4
		ref, want, err := stiffSolve(t, tc.f, tc.z0, tc.ts, tight)
		if err != nil {
			t.Fatalf("%s reference: %v", tc.name, err)
		}
		var worst float64
		for i := range got {
			worst = math.Max(worst, math.Abs(got[i]-want[i])/(tc.atol+tc.rtol*math.Abs(want[i])))
		}
		t.Logf("%s: Kvaerno5 %d steps (%d rejected, NFE %d, %d Jacobians); reference %d steps; worst error %.3g·(atol + rtol·|ref|); z(T) = %.6g",
			tc.name, sol.Steps, sol.Rejected, sol.NFE, sol.Jacobians, ref.Steps, worst, got[len(got)-len(tc.z0):])
		if worst > 10 {
			t.Errorf("%s: error %.3g·(atol + rtol·|ref|) against the reference, want ≤ 10", tc.name, worst)
		}
		if sol.Steps > tc.maxSteps {
			t.Errorf("%s: Kvaerno5 took %d steps, want at most %d", tc.name, sol.Steps, tc.maxSteps)
		}
		if tc.name == "robertson" {
			for i := 0; i < len(got); i += 3 {
				if d := math.Abs(got[i] + got[i+1] + got[i+2] - 1); d > 1e-12 {
					t.Errorf("robertson at t=%g: y1 + y2 + y3 − 1 = %.3g", tc.ts[i/3], d)
				}
			}
		}
		explicit := diffeq.Options{Method: diffeq.Dopri5, RTol: tc.rtol, ATol: tc.atol, MaxSteps: 2000}
		_, _, err = stiffSolve(t, tc.f, tc.z0, tc.ts, explicit)
		t.Logf("%s: Dopri5: %v", tc.name, err)
		if !errors.Is(err, diffeq.ErrMaxSteps) {
			t.Errorf("%s: Dopri5 error %v, want ErrMaxSteps", tc.name, err)
		}
	}
}

// TestKvaerno5Order measures Kvaerno5's order on the spiral (closed form exp(A
// t) z0) with fixed steps: the field is linear, so one simplified Newton
// iteration with the exact Jacobian solves each stage exactly and the error
// is the method's own. It also checks the adaptive solve against the closed
// form at rtol = atol = 1e-6 and 1e-9 (≤ 15·tol·|z0|: its step control
// follows the fourth-order embedded solution), and the
// local order of its dense output, a cubic Hermite interpolant (error
// O(h⁴) at θ = 0.37 of one step).
func TestKvaerno5Order(t *testing.T) {
	hs := []float64{0.5, 0.25, 0.125, 0.0625}
	errs := make([]float64, len(hs))
	for i, h := range hs {
		ts := uniform(5, int(math.Round(5/h)))
		sol, ys := solveSpiral(t, fixedSteps(diffeq.Kvaerno5, h), ts)
		if sol.Steps != len(ts)-1 || sol.Rejected != 0 {
			t.Fatalf("h=%g: %d steps, %d rejected; want %d fixed steps", h, sol.Steps, sol.Rejected, len(ts)-1)
		}
		errs[i], _ = maxRelErr(ts, ys)
	}
	p := slope(hs, errs)
	t.Logf("kvaerno5: errors %.3g, measured order %.2f", errs, p)
	if math.Abs(p-5) > 0.3 {
		t.Errorf("kvaerno5: measured order %.2f, want 5 ± 0.3", p)
	}
	for _, tol := range []float64{1e-6, 1e-9} {
		ts := uniform(10, 20)
		sol, ys := solveSpiral(t, diffeq.Options{Method: diffeq.Kvaerno5, RTol: tol, ATol: tol}, ts)
		abs, _ := maxRelErr(ts, ys)
		t.Logf("kvaerno5 tol %g: max abs error %.3g, %d steps", tol, abs, sol.Steps)
		if abs > tolFactor(diffeq.Kvaerno5)*tol*2 {
			t.Errorf("kvaerno5 tol %g: max abs error %.3g exceeds %g·tol·|z0|", tol, abs, tolFactor(diffeq.Kvaerno5))
		}
	}
	hs = []float64{0.4, 0.2, 0.1, 0.05}
	for i, h := range hs {
		opts := fixedSteps(diffeq.Kvaerno5, h)
		opts.Dense = true
		ts := []float64{0, 0.37 * h, h}
		sol, ys := solveSpiral(t, opts, ts)
		if sol.Steps != 1 {
			t.Fatalf("h=%g: %d steps, want 1", h, sol.Steps)
		}
		errs[i], _ = maxRelErr(ts, ys)
	}
	p = slope(hs, errs)
	t.Logf("kvaerno5 dense output: errors %.3g, local order %.2f", errs, p)
	if math.Abs(p-4) > 0.3 {
		t.Errorf("kvaerno5 dense output: local order %.2f, want 4 ± 0.3", p)
	}
}

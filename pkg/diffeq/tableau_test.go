package diffeq_test

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/diffeq"
)

// col returns column j of a (batch, d) node as (batch, 1).
func col(z *graph.Node, j int) *graph.Node {
	return graph.Slice(z, graph.AxisRange(), graph.AxisElem(j))
}

// kepler is the two-body problem q” = −q/|q|³ with z = (x, y, vx, vy).
func kepler(ctx *context.Context, t, z *graph.Node) *graph.Node {
	x, y := col(z, 0), col(z, 1)
	r2 := graph.Add(graph.Mul(x, x), graph.Mul(y, y))
	inv := graph.Neg(graph.Pow(r2, graph.Scalar(z.Graph(), z.DType(), -1.5)))
	return graph.Concatenate([]*graph.Node{col(z, 2), col(z, 3), graph.Mul(x, inv), graph.Mul(y, inv)}, 1)
}

// keplerExact is the orbit of eccentricity e started at the pericentre
// (1−e, 0) with velocity (0, sqrt((1+e)/(1−e))): with the eccentric anomaly E
// solving Kepler's equation E − e·sin E = t, x = cos E − e, y = sqrt(1−e²)·sin E.
func keplerExact(e, t float64) []float64 {
	E := t
	for range 50 {
		E -= (E - e*math.Sin(E) - t) / (1 - e*math.Cos(E))
	}
	s, c := math.Sin(E), math.Cos(E)
	w := math.Sqrt(1 - e*e)
	d := 1 - e*c
	return []float64{c - e, w * s, -s / d, w * c / d}
}

// solveKepler solves the orbit of eccentricity e with opts over ts and
// returns the solution and the largest absolute error at the save times.
func solveKepler(t *testing.T, e float64, opts diffeq.Options, ts []float64) (*diffeq.Solution, float64) {
	t.Helper()
	s, err := diffeq.NewODESolver(backend.Shared(), context.New(), kepler, opts)
	if err != nil {
		t.Fatal(err)
	}
	sol, err := s.Solve(tensors.FromValue([][]float64{keplerExact(e, 0)}), ts)
	if err != nil {
		t.Fatalf("%s: %v", opts.Method, err)
	}
	var maxErr float64
	for i, y := range sol.Ys {
		v, _ := diffeq.Float64s(y)
		for k, x := range keplerExact(e, ts[i]) {
			maxErr = math.Max(maxErr, math.Abs(v[k]-x))
		}
	}
	return sol, maxErr
}

// uniform returns n+1 equally spaced times on [0, T].
func uniform(T float64, n int) []float64 {
	ts := make([]float64, n+1)
	for i := range ts {
		ts[i] = T * float64(i) / float64(n)
	}
	return ts
}

// fixedSteps are options that make an adaptive method take exactly the steps
// between save times: tolerances so loose that every step is accepted, and
// a first step equal to the first interval.
func fixedSteps(m diffeq.Method, h float64) diffeq.Options {
	return diffeq.Options{Method: m, Dt: h, RTol: 1e6, ATol: 1e6}
}

// TestExplicitPairOrder measures the global order of each new explicit
// method on the Kepler orbit (e = 0.2, one period, closed form from
// Kepler's equation) over 4 step sizes.
func TestExplicitPairOrder(t *testing.T) {
	T := 2 * math.Pi
	for _, tc := range []struct {
		m  diffeq.Method
		ns []int
	}{
		{diffeq.Bosh3, []int{100, 200, 400, 800}},
		{diffeq.Tsit5, []int{56, 80, 112, 160}},
		{diffeq.Dopri8, []int{40, 56, 80, 112}},
	} {
		hs, errs := make([]float64, len(tc.ns)), make([]float64, len(tc.ns))
		for i, n := range tc.ns {
			hs[i] = T / float64(n)
			sol, maxErr := solveKepler(t, 0.2, fixedSteps(tc.m, hs[i]), uniform(T, n))
			if sol.Steps != n || sol.Rejected != 0 {
				t.Fatalf("%s h=%g: %d steps (%d rejected), want %d fixed steps", tc.m, hs[i], sol.Steps, sol.Rejected, n)
			}
			errs[i] = maxErr
		}
		p := slope(hs, errs)
		t.Logf("%s: errors %.3g, measured order %.2f (theory %d)", tc.m, errs, p, tc.m.Order())
		if math.Abs(p-float64(tc.m.Order())) > 0.3 {
			t.Errorf("%s: measured order %.2f, want %d ± 0.3", tc.m, p, tc.m.Order())
		}
	}
}

// TestExplicitPairTolerance: the adaptive solves meet their tolerance against
// the closed form exp(A t) z0 of the spiral at 20 save times (the test
// Dopri5 passes in TestDopri5Tolerance: max error ≤ 10·tol·|z0|; Bosh3,
// third order with local extrapolation, accumulates more global error per
// unit tolerance: ≤ 15·tol·|z0|), and count their evaluations as they should.
func TestExplicitPairTolerance(t *testing.T) {
	ts := uniform(10, 20)
	for _, m := range []diffeq.Method{diffeq.Bosh3, diffeq.Tsit5, diffeq.Dopri8} {
		for _, tol := range []float64{1e-6, 1e-9} {
			sol, ys := solveSpiral(t, diffeq.Options{Method: m, RTol: tol, ATol: tol}, ts)
			maxErr, _ := maxRelErr(ts, ys)
			t.Logf("%s tol %g: max abs error %.3g, %d steps, %d rejected, NFE %d", m, tol, maxErr, sol.Steps, sol.Rejected, sol.NFE)
			if bound := tolFactor(m) * tol * 2; maxErr > bound {
				t.Errorf("%s tol %g: max abs error %.3g exceeds %g·tol·|z0|", m, tol, maxErr, tolFactor(m))
			}
			if want := 1 + m.NFEPerStep()*(sol.Steps+sol.Rejected); sol.NFE != want {
				t.Errorf("%s: NFE %d, want 1 + %d·(steps+rejected) = %d", m, sol.NFE, m.NFEPerStep(), want)
			}
		}
	}
}

// TestExplicitPairDenseOrder checks each continuous extension's local order:
// one step of the Kepler orbit from 0 to h read at θ = 0.37 has error
// O(h^(q+1)) for an interpolant of order q (Bosh3: 3, Tsit5 and Dopri5: 4,
// Dopri8: 7).
func TestExplicitPairDenseOrder(t *testing.T) {
	for _, tc := range []struct {
		m    diffeq.Method
		q    int
		hs   []float64
		nfe1 int // evaluations of one step with its dense output
	}{
		{diffeq.Bosh3, 3, []float64{0.2, 0.1, 0.05, 0.025}, 1 + 3},
		{diffeq.Tsit5, 4, []float64{0.2, 0.1, 0.05, 0.025}, 1 + 6},
		{diffeq.Dopri5, 4, []float64{0.2, 0.1, 0.05, 0.025}, 1 + 6},
		{diffeq.Dopri8, 7, []float64{0.4, 0.3, 0.2, 0.15}, 1 + 12 + 3},
	} {
		errs := make([]float64, len(tc.hs))
		for i, h := range tc.hs {
			opts := fixedSteps(tc.m, h)
			opts.Dense = true
			ts := []float64{0, 0.37 * h, h}
			sol, _ := solveKepler(t, 0.5, opts, ts)
			if sol.Steps != 1 || sol.NFE != tc.nfe1 {
				t.Fatalf("%s h=%g: %d steps, NFE %d; want 1 step, NFE %d", tc.m, h, sol.Steps, sol.NFE, tc.nfe1)
			}
			v, _ := diffeq.Float64s(sol.Ys[1])
			for k, x := range keplerExact(0.5, ts[1]) {
				errs[i] = math.Max(errs[i], math.Abs(v[k]-x))
			}
		}
		p := slope(tc.hs, errs)
		t.Logf("%s dense output: errors %.3g, local order %.2f (theory %d)", tc.m, errs, p, tc.q+1)
		if math.Abs(p-float64(tc.q+1)) > 0.3 {
			t.Errorf("%s: local order of the dense output %.2f, want %d ± 0.3", tc.m, p, tc.q+1)
		}
	}
}

// tolFactor is the bound on the global error of the spiral, in units of
// tol·|z0|.
func tolFactor(m diffeq.Method) float64 {
	if m == diffeq.Bosh3 || m == diffeq.Kvaerno5 {
		return 15
	}
	return 10
}

// TestExplicitPairDenseSolve: dense solves of the spiral at 201 save times
// meet the tolerance against exp(A t) z0 with at most 80% of the
// evaluations of stopping at each save time (tolerance 1e-7; 1e-5 for
// Bosh3, whose steps at 1e-7 are shorter than the save interval).
func TestExplicitPairDenseSolve(t *testing.T) {
	ts := uniform(10, 200)
	for _, m := range []diffeq.Method{diffeq.Bosh3, diffeq.Tsit5, diffeq.Dopri8} {
		tol := 1e-7
		if m == diffeq.Bosh3 {
			tol = 1e-5
		}
		dense, ys := solveSpiral(t, diffeq.Options{Method: m, RTol: tol, ATol: tol, Dense: true}, ts)
		maxErr, _ := maxRelErr(ts, ys)
		stop, _ := solveSpiral(t, diffeq.Options{Method: m, RTol: tol, ATol: tol}, ts)
		t.Logf("%s: dense output at 201 save times: max abs error %.3g, %d steps, NFE %d (stopping at each: %d steps, NFE %d)",
			m, maxErr, dense.Steps, dense.NFE, stop.Steps, stop.NFE)
		if maxErr > tolFactor(m)*tol*2 {
			t.Errorf("%s: dense max abs error %.3g exceeds %g·tol·|z0|", m, maxErr, tolFactor(m))
		}
		if len(dense.Ys) != len(ts) || float64(dense.NFE) > 0.8*float64(stop.NFE) {
			t.Errorf("%s: %d states with NFE %d, stopping at save times NFE %d: want %d states and at most 80%%", m, len(dense.Ys), dense.NFE, stop.NFE, len(ts))
		}
	}
}

// arenstorf is the restricted three-body problem of Hairer, Nørsett & Wanner
// (Solving ODEs I, II.0) with z = (x, y, x', y').
func arenstorf(ctx *context.Context, t, z *graph.Node) *graph.Node {
	const mu = 0.012277471
	x, y, vx, vy := col(z, 0), col(z, 1), col(z, 2), col(z, 3)
	y2 := graph.Mul(y, y)
	dist := func(shift float64) *graph.Node { // ((x+shift)² + y²)^(3/2)
		xs := graph.AddScalar(x, shift)
		return graph.Pow(graph.Add(graph.Mul(xs, xs), y2), graph.Scalar(z.Graph(), z.DType(), 1.5))
	}
	d1, d2 := dist(mu), dist(mu-1)
	ax := graph.Sub(graph.Sub(graph.Add(x, graph.MulScalar(vy, 2)),
		graph.Div(graph.MulScalar(graph.AddScalar(x, mu), 1-mu), d1)),
		graph.Div(graph.MulScalar(graph.AddScalar(x, mu-1), mu), d2))
	ay := graph.Sub(graph.Sub(graph.Sub(y, graph.MulScalar(vx, 2)),
		graph.Div(graph.MulScalar(y, 1-mu), d1)), graph.Div(graph.MulScalar(y, mu), d2))
	return graph.Concatenate([]*graph.Node{vx, vy, ax, ay}, 1)
}

// arenstorfZ0 and arenstorfT: the orbit is periodic with period T, so z(T)
// = z0 is the ground truth.
var (
	arenstorfZ0 = []float64{0.994, 0, 0, -2.00158510637908252240537862224}
	arenstorfT  = 17.0652165601579625588917206249
)

// TestHigherOrderFewerSteps: at rtol 1e-8, atol 1e-10, Dopri8 takes fewer
// steps than Dopri5 over one period of the Arenstorf orbit, three periods of
// the Kepler orbit (e = 0.5) and the spiral over [0, 20]; Tsit5 takes fewer
// on the spiral only (on the two orbits it takes 1–6% more: see
// docs/solvers.md). Each solve meets the closed form at T (z(T) = z0 for
// Arenstorf).
func TestHigherOrderFewerSteps(t *testing.T) {
	steps := map[string]map[diffeq.Method]int{}
	methods := []diffeq.Method{diffeq.Dopri5, diffeq.Tsit5, diffeq.Dopri8, diffeq.Bosh3}
	for _, problem := range []string{"arenstorf", "kepler", "spiral"} {
		steps[problem] = map[diffeq.Method]int{}
		for _, m := range methods {
			opts := diffeq.Options{Method: m, RTol: 1e-8, ATol: 1e-10}
			var sol *diffeq.Solution
			var maxErr float64
			switch problem {
			case "kepler":
				sol, maxErr = solveKepler(t, 0.5, opts, []float64{0, 6 * math.Pi})
			case "spiral":
				var ys [][]float64
				sol, ys = solveSpiral(t, opts, []float64{0, 20})
				maxErr, _ = maxRelErr([]float64{0, 20}, ys)
			default:
				s, err := diffeq.NewODESolver(backend.Shared(), context.New(), arenstorf, opts)
				if err != nil {
					t.Fatal(err)
				}
				sol, err = s.Solve(tensors.FromValue([][]float64{arenstorfZ0}), []float64{0, arenstorfT})
				if err != nil {
					t.Fatalf("%s: %v", m, err)
				}
				v, _ := diffeq.Float64s(sol.Ys[1])
				for k, x := range arenstorfZ0 {
					maxErr = math.Max(maxErr, math.Abs(v[k]-x))
				}
			}
			steps[problem][m] = sol.Steps
			t.Logf("%s %s: %d steps, %d rejected, NFE %d, error at T %.3g", problem, m, sol.Steps, sol.Rejected, sol.NFE, maxErr)
			if maxErr > 1e-3 {
				t.Errorf("%s %s: error at T %.3g", problem, m, maxErr)
			}
		}
		fewer := []diffeq.Method{diffeq.Dopri8}
		if problem == "spiral" {
			fewer = append(fewer, diffeq.Tsit5)
		}
		for _, m := range fewer {
			if steps[problem][m] >= steps[problem][diffeq.Dopri5] {
				t.Errorf("%s: %s took %d steps, Dopri5 %d: want fewer", problem, m, steps[problem][m], steps[problem][diffeq.Dopri5])
			}
		}
	}
}

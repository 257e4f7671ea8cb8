package diffeq_test

import (
	"math"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/diffeq"
)

const gravity = 9.81

// fall is a ball in free fall: z = (h, v), h' = v, v' = −g.
func fall(ctx *context.Context, t, z *graph.Node) *graph.Node {
	return assemble(z, comp(z, 1), graph.MulScalar(graph.OnesLike(comp(z, 0)), -gravity))
}

// height is the event function g(t, z) = h: the ball hits the floor.
func height(ctx *context.Context, t, z *graph.Node) *graph.Node { return comp(z, 0) }

// TestBouncingBallEvent: a ball dropped from h0 hits the floor at
// t* = sqrt(2·h0/g) with speed g·t* (closed form) — matched to 1e-8 by every
// adaptive method. The gradient of t* with respect to h0 from
// EventTimeGradient (implicit function theorem, with dz(t*)/dh0 from central
// finite differences of two solves to the fixed time t*) matches the closed
// form 1/sqrt(2·g·h0).
func TestBouncingBallEvent(t *testing.T) {
	b := backend.Shared()
	for _, m := range []diffeq.Method{diffeq.Dopri5, diffeq.Tsit5, diffeq.Bosh3, diffeq.Dopri8, diffeq.Kvaerno5} {
		for _, h0 := range []float64{1, 7.5} {
			s, err := diffeq.NewODESolver(b, context.New(), fall, diffeq.Options{Method: m, RTol: 1e-10, ATol: 1e-12, Event: height, Dense: true})
			if err != nil {
				t.Fatal(err)
			}
			ts := []float64{0, 0.1, 0.2, 0.3, 5}
			sol, err := s.Solve(tensors.FromValue([][]float64{{h0, 0}}), ts)
			if err != nil {
				t.Fatalf("%s: %v", m, err)
			}
			if sol.Event == nil {
				t.Fatalf("%s h0=%g: no event before t=5", m, h0)
			}
			want := math.Sqrt(2 * h0 / gravity)
			z, _ := diffeq.Float64s(sol.Event.Z)
			t.Logf("%s h0=%g: impact at t=%.12f (closed form %.12f), state %.3g, %d steps, NFE %d", m, h0, sol.Event.T, want, z, sol.Steps, sol.NFE)
			if d := math.Abs(sol.Event.T - want); d > 1e-8 {
				t.Errorf("%s h0=%g: impact time %.12f, closed form %.12f (diff %.3g)", m, h0, sol.Event.T, want, d)
			}
			if math.Abs(z[0]) > 1e-8 || math.Abs(z[1]+gravity*want) > 1e-7 {
				t.Errorf("%s h0=%g: state at impact %v, want (0, %g)", m, h0, z, -gravity*want)
			}
			// Save times before the impact only, each on the closed form.
			for i, ti := range sol.Ts {
				if ti >= sol.Event.T {
					t.Errorf("%s: save time %g after the event at %g", m, ti, sol.Event.T)
				}
				v, _ := diffeq.Float64s(sol.Ys[i])
				if d := math.Abs(v[0] - (h0 - gravity*ti*ti/2)); d > 1e-8 {
					t.Errorf("%s: h(%g) = %g, closed form %g", m, ti, v[0], h0-gravity*ti*ti/2)
				}
			}
			if m != diffeq.Dopri5 {
				continue
			}
			// dz(t*)/dh0 at the fixed time t*, by central differences.
			eps := 1e-4 * h0
			fixed, err := diffeq.NewODESolver(b, context.New(), fall, diffeq.Options{Method: m, RTol: 1e-12, ATol: 1e-12})
			if err != nil {
				t.Fatal(err)
			}
			var ends [2][]float64
			for k, sign := range []float64{1, -1} {
				fs, err := fixed.Solve(tensors.FromValue([][]float64{{h0 + sign*eps, 0}}), []float64{0, sol.Event.T})
				if err != nil {
					t.Fatal(err)
				}
				ends[k], _ = diffeq.Float64s(fs.Ys[1])
			}
			dz := []float64{(ends[0][0] - ends[1][0]) / (2 * eps), (ends[0][1] - ends[1][1]) / (2 * eps)}
			grad, err := s.EventTimeGradient(sol.Event, tensors.FromValue([][]float64{dz}))
			if err != nil {
				t.Fatal(err)
			}
			wantGrad := 1 / math.Sqrt(2*gravity*h0)
			t.Logf("h0=%g: dt*/dh0 = %.10f, closed form %.10f", h0, grad, wantGrad)
			if math.Abs(grad-wantGrad) > 1e-7 {
				t.Errorf("h0=%g: dt*/dh0 = %.10f, closed form 1/sqrt(2 g h0) = %.10f", h0, grad, wantGrad)
			}
		}
	}
	if _, err := diffeq.NewODESolver(b, nil, fall, diffeq.Options{Method: diffeq.RK4, Event: height}); err == nil || !strings.Contains(err.Error(), "Options.Event needs an adaptive method") {
		t.Errorf("event with RK4: error %v, want one saying Options.Event needs an adaptive method", err)
	}
	if _, err := diffeq.NewShardedODESolver(b, nil, fall, diffeq.Options{Method: diffeq.Dopri5, Event: height}, 2); err == nil || !strings.Contains(err.Error(), "Options.Event is not supported on shards") {
		t.Errorf("event on shards: error %v, want a refusal", err)
	}
}

// firstCoord is the event g = z[0].
func firstCoord(ctx *context.Context, t, z *graph.Node) *graph.Node { return comp(z, 0) }

// TestSpiralEvent: the spiral from z0 = (2, y0) crosses x = 0 where
// tan t = −2/y0 (for y0 = 0 at t* = π/2), located on the dense output (not
// a polynomial solution, so the interpolant's accuracy shows) to 1e-8. By
// the implicit function theorem dt*/dy0 = 1/2 at y0 = 0 (x = e^{−0.1t}(2 cos
// t + y0 sin t)): EventTimeGradient with dz(t*)/dy0 from central finite
// differences matches it.
func TestSpiralEvent(t *testing.T) {
	b := backend.Shared()
	for _, m := range []diffeq.Method{diffeq.Dopri5, diffeq.Tsit5, diffeq.Dopri8, diffeq.Kvaerno5} {
		s, err := diffeq.NewODESolver(b, context.New(), spiral, diffeq.Options{Method: m, RTol: 1e-10, ATol: 1e-10, Event: firstCoord})
		if err != nil {
			t.Fatal(err)
		}
		sol, err := s.Solve(tensors.FromValue([][]float64{{2, 0}}), []float64{0, 10})
		if err != nil {
			t.Fatal(err)
		}
		if sol.Event == nil {
			t.Fatalf("%s: no event", m)
		}
		t.Logf("%s: x = 0 at t=%.12f (π/2 = %.12f), %d steps", m, sol.Event.T, math.Pi/2, sol.Steps)
		if d := math.Abs(sol.Event.T - math.Pi/2); d > 1e-8 {
			t.Errorf("%s: event at %.12f, want π/2 (diff %.3g)", m, sol.Event.T, d)
		}
		fixed, err := diffeq.NewODESolver(b, context.New(), spiral, diffeq.Options{Method: diffeq.Dopri5, RTol: 1e-12, ATol: 1e-12})
		if err != nil {
			t.Fatal(err)
		}
		const eps = 1e-4
		var ends [2][]float64
		for k, y0 := range []float64{eps, -eps} {
			fs, err := fixed.Solve(tensors.FromValue([][]float64{{2, y0}}), []float64{0, sol.Event.T})
			if err != nil {
				t.Fatal(err)
			}
			ends[k], _ = diffeq.Float64s(fs.Ys[1])
		}
		dz := []float64{(ends[0][0] - ends[1][0]) / (2 * eps), (ends[0][1] - ends[1][1]) / (2 * eps)}
		grad, err := s.EventTimeGradient(sol.Event, tensors.FromValue([][]float64{dz}))
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(grad-0.5) > 1e-6 {
			t.Errorf("%s: dt*/dy0 = %.10f, want 1/2", m, grad)
		}
	}
}

// TestEventGradientThroughSolve differentiates the solve instead of finite
// differences: EventCotangent c at the spiral's crossing of x = 0 is the
// cotangent dL/dz(t*) of a solve from z0 to t*, so backpropagating
// L = c·z(t*) through an in-graph solve (Integrate, RK4, 400 steps) gives
// dt*/dz0 — for z0 = (2, 0) the closed form is (0, 1/2) (cos t·x0 + sin t·y0
// = 0 at t* = π/2 gives −2·dt + dy0 = 0 and no dependence on x0). The
// weights of a vector field get dt*/dθ the same way (or through the
// continuous adjoint), all at once.
func TestEventGradientThroughSolve(t *testing.T) {
	b := backend.Shared()
	s, err := diffeq.NewODESolver(b, context.New(), spiral, diffeq.Options{Method: diffeq.Dopri5, RTol: 1e-10, ATol: 1e-10, Event: firstCoord})
	if err != nil {
		t.Fatal(err)
	}
	z0 := [][]float64{{2, 0}}
	sol, err := s.Solve(tensors.FromValue(z0), []float64{0, 10})
	if err != nil || sol.Event == nil {
		t.Fatalf("solve: %v, event %v", err, sol)
	}
	c, err := s.EventCotangent(sol.Event)
	if err != nil {
		t.Fatal(err)
	}
	out, err := context.ExecOnceN(b, context.New(), func(ctx *context.Context, z0, ts, c *graph.Node) []*graph.Node {
		zs, err := diffeq.Integrate(ctx, diffeq.RK4, spiral, z0, ts, 400)
		if err != nil {
			panic(err)
		}
		loss := graph.ReduceAllSum(graph.Mul(zs[1], c))
		return graph.Gradient(loss, z0)
	}, z0, []float64{0, sol.Event.T}, c)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := diffeq.Float64s(out[0])
	t.Logf("dt*/dz0 through the solve: %.10f (closed form (0, 0.5))", got)
	if math.Abs(got[0]) > 1e-7 || math.Abs(got[1]-0.5) > 1e-7 {
		t.Errorf("dt*/dz0 = %v, want (0, 0.5)", got)
	}
}

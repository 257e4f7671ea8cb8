package diffeq

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Integrate solves dz/dt = f(t, z) from ts[0] to ts[len(ts)-1] inside the
// caller's graph, unrolling the solver's steps so that GoMLX autodiff can
// differentiate through them (the direct method). It returns the states at
// the save times ts (the first is z0).
//
// ts is a 1-D node of strictly increasing save times (its values are data,
// so one compiled graph serves any times of the same count). Each interval
// between save times is split into substeps equal steps. Method is Euler,
// Midpoint, RK4, or Dopri5 (its fifth-order step without error control: use
// an ODESolver to choose substeps for a tolerance).
func Integrate(ctx *context.Context, m Method, f Func, z0, ts *Node, substeps int) ([]*Node, error) {
	if ts.Rank() != 1 {
		return nil, fmt.Errorf("diffeq.Integrate: ts must be 1-D, got shape %s", ts.Shape())
	}
	if substeps < 1 {
		return nil, fmt.Errorf("diffeq.Integrate: substeps must be ≥ 1, got %d", substeps)
	}
	if z0.DType() != ts.DType() {
		ts = graph.ConvertDType(ts, z0.DType())
	}
	n := ts.Shape().Dimensions[0]
	out := make([]*Node, n)
	out[0] = z0
	z := z0
	tPrev := graph.Reshape(graph.Slice(ts, graph.AxisElem(0)))
	for i := 1; i < n; i++ {
		tNext := graph.Reshape(graph.Slice(ts, graph.AxisElem(i)))
		dt := graph.DivScalar(graph.Sub(tNext, tPrev), float64(substeps))
		var err error
		z, err = stepsOn(ctx, m, f, tPrev, dt, z, substeps)
		if err != nil {
			return nil, err
		}
		out[i] = z
		tPrev = tNext
	}
	return out, nil
}

// IntegrateConst is Integrate with save times given as Go values: the grid is
// fixed when the graph is built. Each interval [ts[i-1], ts[i]] is split into
// ceil(length/dt) equal steps (one step per interval if dt is 0).
func IntegrateConst(ctx *context.Context, m Method, f Func, z0 *Node, ts []float64, dt float64) ([]*Node, error) {
	if err := CheckTimes("ts", ts); err != nil {
		return nil, fmt.Errorf("diffeq.IntegrateConst: %w", err)
	}
	if dt < 0 || math.IsNaN(dt) || math.IsInf(dt, 0) {
		return nil, fmt.Errorf("diffeq.IntegrateConst: dt must be finite and ≥ 0 (0: one step per interval), got %g", dt)
	}
	out := make([]*Node, len(ts))
	out[0] = z0
	z := z0
	for i := 1; i < len(ts); i++ {
		steps, err := StepsIn(ts[i]-ts[i-1], dt)
		if err != nil {
			return nil, fmt.Errorf("diffeq.IntegrateConst: interval %d: %w", i, err)
		}
		h := (ts[i] - ts[i-1]) / float64(steps)
		z, err = stepsOn(ctx, m, f, scalarLike(z0, ts[i-1]), scalarLike(z0, h), z, steps)
		if err != nil {
			return nil, err
		}
		out[i] = z
	}
	return out, nil
}

// MaxStepCount is the largest number of steps StepsIn gives for one span:
// 2⁵³, beyond which the step times t0 + k·h are no longer distinct float64
// values (and a step count could overflow an int).
const MaxStepCount = 1 << 53

// StepsIn returns the number of equal steps of size at most dt that cover a
// span (1 if dt is 0 or larger than the span). A span within 1e-9 relative of
// a multiple of dt is not given an extra sliver step. It returns an error
// naming dt when the count is not finite or exceeds MaxStepCount (a dt so
// small that span/dt overflows), or when span or dt is not finite.
func StepsIn(span, dt float64) (int, error) {
	if math.IsNaN(span) || math.IsInf(span, 0) || math.IsNaN(dt) || math.IsInf(dt, 0) {
		return 0, fmt.Errorf("step dt=%g over a span of %g: both must be finite", dt, span)
	}
	if dt <= 0 || dt >= span {
		return 1, nil
	}
	n := span / dt
	if !(n <= MaxStepCount) {
		return 0, fmt.Errorf("step dt=%g splits a span of %g into %.3g steps, more than the %d a solve can take: use a larger dt", dt, span, n, int64(MaxStepCount))
	}
	r := math.Round(n)
	if math.Abs(n-r) <= 1e-9*n {
		return int(r), nil
	}
	return int(math.Ceil(n)), nil
}

// stepsOn takes n equal steps of size dt from (t, z).
func stepsOn(ctx *context.Context, m Method, f Func, t, dt, z *Node, n int) (*Node, error) {
	var err error
	for k := 0; k < n; k++ {
		tk := t
		if k > 0 {
			tk = graph.Add(t, graph.MulScalar(dt, float64(k)))
		}
		if m == Dopri5 {
			z, _, _ = Dopri5Step(ctx, f, tk, dt, z, f(ctx.Checked(false), tk, z))
			continue
		}
		z, err = StepODE(ctx, m, f, tk, dt, z)
		if err != nil {
			return nil, err
		}
	}
	return z, nil
}

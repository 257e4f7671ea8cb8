package diffeq

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// scalarLike returns value as a scalar node with z's dtype, in z's graph.
func scalarLike(z *Node, value float64) *Node {
	return graph.Scalar(z.Graph(), z.DType(), value)
}

// axpy returns z + Σ cᵢ·kᵢ·dt for the non-zero coefficients cᵢ.
func axpy(z, dt *Node, coeffs []float64, ks []*Node) *Node {
	for _, c := range coeffs {
		if c != 0 {
			return graph.Add(z, combine(dt, coeffs, ks))
		}
	}
	return z
}

// StepODE builds one step of a fixed-step method (Euler, Midpoint or RK4), or
// the higher-order formula of an explicit adaptive method (Tsit5, Bosh3,
// Dopri8) without error control, from time t to t+dt; t and dt are scalar
// nodes of z's dtype. It returns the new state.
func StepODE(ctx *context.Context, m Method, f Func, t, dt, z *Node) (*Node, error) {
	ctx = ctx.Checked(false)
	if tb := tableauOf(m); tb != nil && m != Dopri5 {
		zNext, _, _ := tb.stages(ctx, f, t, dt, z, callField(ctx, f, t, z))
		return zNext, nil
	}
	switch m {
	case Euler:
		return graph.Add(z, graph.Mul(f(ctx, t, z), dt)), nil
	case Midpoint:
		half := graph.MulScalar(dt, 0.5)
		k1 := f(ctx, t, z)
		k2 := f(ctx, graph.Add(t, half), graph.Add(z, graph.Mul(k1, half)))
		return graph.Add(z, graph.Mul(k2, dt)), nil
	case RK4:
		half := graph.MulScalar(dt, 0.5)
		tMid := graph.Add(t, half)
		k1 := f(ctx, t, z)
		k2 := f(ctx, tMid, graph.Add(z, graph.Mul(k1, half)))
		k3 := f(ctx, tMid, graph.Add(z, graph.Mul(k2, half)))
		k4 := f(ctx, graph.Add(t, dt), graph.Add(z, graph.Mul(k3, dt)))
		return axpy(z, dt, []float64{1.0 / 6, 2.0 / 6, 2.0 / 6, 1.0 / 6}, []*Node{k1, k2, k3, k4}), nil
	}
	return nil, fmt.Errorf("diffeq: method %q is not an explicit ODE method (use euler, midpoint, rk4, tsit5, bosh3 or dopri8)", m)
}

// Dormand–Prince 5(4) tableau.
var (
	dopriC = [7]float64{0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1, 1}
	dopriA = [7][]float64{
		{},
		{1.0 / 5},
		{3.0 / 40, 9.0 / 40},
		{44.0 / 45, -56.0 / 15, 32.0 / 9},
		{19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729},
		{9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
		{35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84},
	}
	// dopriE are the coefficients of the error estimate: b5 − b4.
	dopriE = [7]float64{
		35.0/384 - 5179.0/57600, 0, 500.0/1113 - 7571.0/16695, 125.0/192 - 393.0/640,
		-2187.0/6784 + 92097.0/339200, 11.0/84 - 187.0/2100, -1.0 / 40,
	}
)

// Dopri5Step builds one Dormand–Prince 5(4) step from t to t+dt given k1 =
// f(t, z) (first-same-as-last: the returned k7 is f(t+dt, zNext), the next
// step's k1). errEst is the embedded error estimate (zNext minus the
// fourth-order solution), shaped like z. It costs 6 evaluations of f.
func Dopri5Step(ctx *context.Context, f Func, t, dt, z, k1 *Node) (zNext, k7, errEst *Node) {
	zNext, ks := dopri5Stages(ctx, f, t, dt, dt, z, k1)
	return zNext, ks[6], dopri5Error(dt, ks)
}

// dopri5Stages builds the stages k1 … k7 of a Dormand–Prince step (k1
// given) and the fifth-order solution. dt is the step as a scalar; dtz is
// the step the stages are scaled by: dt itself, or dt broadcast to z's shape
// once (GoMLX's gradient of a product with a scalar broadcasts the scalar
// again for every product).
func dopri5Stages(ctx *context.Context, f Func, t, dt, dtz, z, k1 *Node) (zNext *Node, ks []*Node) {
	ctx = ctx.Checked(false)
	ks = make([]*Node, 7)
	ks[0] = k1
	for i := 1; i < 7; i++ {
		zi := axpy(z, dtz, dopriA[i], ks)
		ti := graph.Add(t, graph.MulScalar(dt, dopriC[i]))
		if i == 6 {
			zNext = zi // the 7th stage is evaluated at the 5th-order solution
		}
		ks[i] = f(ctx, ti, zi)
	}
	return zNext, ks
}

// dopri5Error returns dt·Σ eᵢkᵢ, the embedded error estimate.
func dopri5Error(dt *Node, ks []*Node) *Node {
	return combine(dt, dopriE[:], ks)
}

// combine returns dt·Σ cᵢkᵢ over the non-zero coefficients.
func combine(dt *Node, coeffs []float64, ks []*Node) *Node {
	var acc *Node
	for i, c := range coeffs {
		if c == 0 {
			continue
		}
		term := graph.MulScalar(ks[i], c)
		if acc == nil {
			acc = term
		} else {
			acc = graph.Add(acc, term)
		}
	}
	return graph.Mul(acc, dt)
}

// ErrorRatio builds the Dopri5 acceptance ratio: the RMS over all elements of
// errEst / (atol + rtol·max(|z|, |zNext|)). A step is accepted when it is ≤ 1.
func ErrorRatio(errEst, z, zNext *Node, rtol, atol float64) *Node {
	scale := graph.AddScalar(graph.MulScalar(graph.Max(graph.Abs(z), graph.Abs(zNext)), rtol), atol)
	r := graph.Div(errEst, scale)
	return graph.Sqrt(graph.ReduceAllMean(graph.Mul(r, r)))
}

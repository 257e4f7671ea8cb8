package diffeq

import (
	"cmp"
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// StepSDE builds one step of an SDE method from time t to t+dt in the
// caller's graph; t and dt are scalar nodes of z's dtype, z is (batch, d) and
// dW (batch, m) is the Brownian increment over the step (see SDE.NoiseSize).
// It returns the new state; GoMLX autodiff differentiates through it.
//
// Methods:
//   - EulerMaruyama (Ito): z + f dt + g dW.
//   - Milstein (Ito or Stratonovich; diagonal, scalar or additive noise):
//     Euler–Maruyama plus ½·g·∂g/∂z·(dW² − dt) (Stratonovich: without − dt).
//     g·∂g/∂z is computed as the gradient of ½Σg² with respect to z,
//     (∂g/∂z)ᵀg, which equals gᵢ·∂gᵢ/∂zᵢ when each gᵢ depends on z only
//     through zᵢ ("diagonal dependence", as in a diagonal neural SDE); for
//     diagonal noise this assumption is made and not checked. For scalar
//     noise the full (∂g/∂z)·g is used (a Jacobian–vector product built
//     from two gradients), so g may depend on all of z.
//   - Heun (Stratonovich): predictor z̃ = z + f dt + g dW, then the average
//     of the slopes at (t, z) and (t+dt, z̃).
//   - SDEMidpoint (Stratonovich): slopes at (t+dt/2, z + ½(f dt + g dW)).
//
// ReversibleHeun carries extra state: use ReversibleHeunStep.
func StepSDE(ctx *context.Context, sde SDE, m Method, t, dt, z, dW *Node) (*Node, error) {
	sde = sde.withDefaults()
	if err := sde.Validate(); err != nil {
		return nil, err
	}
	if err := checkSDEMethod(sde, m); err != nil {
		return nil, err
	}
	if err := checkNoise(sde, z, dW); err != nil {
		return nil, err
	}
	switch m {
	case EulerMaruyama, Heun, SDEMidpoint:
		var err error
		phi := func(t *Node, y []*Node) []*Node {
			inc, e := sde.Increment(ctx, t, dt, dW, y[0])
			if e != nil {
				err = cmp.Or(err, e)
				return []*Node{graph.ZerosLike(y[0])}
			}
			return []*Node{inc}
		}
		out, e := IncrementStep(m, phi, t, dt, []*Node{z})
		if err = cmp.Or(err, e); err != nil {
			return nil, err
		}
		return out[0], nil
	case Milstein:
		return milsteinStep(ctx, sde, t, dt, z, dW)
	}
	return nil, fmt.Errorf("diffeq.StepSDE: method %q needs its own state: use ReversibleHeunStep", m)
}

// Increment is the increment of a solver state over one step that starts at
// time t: for an SDE, Φ(t, y) = f(t, y)·h + g(t, y)·ΔW with the step's h and
// ΔW fixed by the caller. The state y may be several tensors (for example a
// latent state, a KL path term and an adjoint state); Φ returns one
// increment per part, each shaped like its part.
type Increment func(t *Node, y []*Node) []*Node

// IncrementStep builds one step of method m from time t by h for the
// increment phi. It is the one step rule of these methods, used by the
// forward solves (StepSDE, IntegrateSDE, the host solvers) and by the
// backward pass of the stochastic adjoint, which steps the augmented state
// [z, a, gθ] with the same rule:
//
//   - EulerMaruyama: y + Φ(t, y);
//   - Heun: y + ½Φ(t, y) + ½Φ(t+h, y + Φ(t, y));
//   - SDEMidpoint: y + Φ(t + h/2, y + ½Φ(t, y)).
//
// With Φ = f·h (no noise) these are Euler's method, Heun's method
// (explicit trapezoidal) and the explicit midpoint method.
func IncrementStep(m Method, phi Increment, t, h *Node, y []*Node) ([]*Node, error) {
	axpy := func(y []*Node, c float64, k []*Node) []*Node {
		out := make([]*Node, len(y))
		for i := range y {
			kc := k[i]
			if c != 1 {
				kc = graph.MulScalar(kc, c)
			}
			out[i] = graph.Add(y[i], kc)
		}
		return out
	}
	k1 := phi(t, y)
	if len(k1) != len(y) {
		return nil, fmt.Errorf("diffeq.IncrementStep: the increment has %d parts for a state of %d", len(k1), len(y))
	}
	switch m {
	case EulerMaruyama:
		return axpy(y, 1, k1), nil
	case SDEMidpoint:
		return axpy(y, 1, phi(graph.Add(t, graph.MulScalar(h, 0.5)), axpy(y, 0.5, k1))), nil
	case Heun:
		k2 := phi(graph.Add(t, h), axpy(y, 1, k1))
		out := make([]*Node, len(y))
		for i := range y {
			out[i] = graph.Add(y[i], graph.MulScalar(graph.Add(k1[i], k2[i]), 0.5))
		}
		return out, nil
	}
	return nil, fmt.Errorf("diffeq.IncrementStep: method %q is not an increment method (euler_maruyama, heun, sde_midpoint)", m)
}

// Eval returns the drift f and the diffusion g of s at (t, z), checking
// their shapes against the state and the noise type.
func (s SDE) Eval(ctx *context.Context, t, z *Node) (f, g *Node, err error) {
	return evalSDE(ctx, s.withDefaults(), t, z)
}

// Increment returns Φ(t, z) = f(t, z)·h + g(t, z)·dW, the product g·dW as
// the noise type says (see NoiseSize).
func (s SDE) Increment(ctx *context.Context, t, h, dW, z *Node) (*Node, error) {
	s = s.withDefaults()
	f, g, err := evalSDE(ctx, s, t, z)
	if err != nil {
		return nil, err
	}
	return graph.Add(graph.Mul(f, h), applyNoise(s, g, dW)), nil
}

// emUpdate returns z + f dt + g dW.
func emUpdate(sde SDE, z, f, g, dt, dW *Node) *Node {
	return graph.Add(graph.Add(z, graph.Mul(f, dt)), applyNoise(sde, g, dW))
}

// averagedUpdate returns z + ½(f1+f2) dt + ½(g1+g2) dW.
func averagedUpdate(sde SDE, z, f1, g1, f2, g2, dt, dW *Node) *Node {
	fa := graph.MulScalar(graph.Add(f1, f2), 0.5)
	ga := graph.MulScalar(graph.Add(g1, g2), 0.5)
	return emUpdate(sde, z, fa, ga, dt, dW)
}

// milsteinStep builds one Milstein step (see StepSDE).
func milsteinStep(ctx *context.Context, sde SDE, t, dt, z, dW *Node) (*Node, error) {
	if sde.Noise == Additive {
		f, g, err := evalSDE(ctx, sde, t, z)
		if err != nil {
			return nil, err
		}
		return emUpdate(sde, z, f, g, dt, dW), nil
	}
	// A fresh node so that the gradient with respect to it is defined even
	// when z itself is a StopGradient; gradients flow through it unchanged.
	zz := graph.IdentityWithCustomGradient(z, func(_, v *Node) *Node { return v })
	f, g, err := evalSDE(ctx, sde, t, zz)
	if err != nil {
		return nil, err
	}
	var ggp *Node
	dw := dW
	if sde.Noise == Scalar {
		// (∂g/∂z)·g by a double vector–Jacobian product: v(u) = (∂g/∂z)ᵀu is
		// linear in u, and the gradient of v(u)·g with respect to u is
		// (∂g/∂z)·g. u is a zero dummy whose value never matters.
		u := graph.ZerosLike(z)
		v := graph.Gradient(graph.ReduceAllSum(graph.Mul(g, u)), zz)[0]
		ggp = graph.Gradient(graph.ReduceAllSum(graph.Mul(v, g)), u)[0]
		dw = graph.BroadcastToShape(dW, z.Shape())
	} else {
		// (∂g/∂z)ᵀg = ∇(½Σg²); no StopGradient, so an outer gradient through
		// this step sees every dependence on z.
		ggp = graph.Gradient(graph.MulScalar(graph.ReduceAllSum(graph.Mul(g, g)), 0.5), zz)[0]
	}
	sq := graph.Mul(dw, dw)
	if sde.Type == Ito {
		sq = graph.Sub(sq, dt)
	}
	corr := graph.MulScalar(graph.Mul(ggp, sq), 0.5)
	return graph.Add(emUpdate(sde, zz, f, g, dt, dW), corr), nil
}

// RevHeunState is the state of the reversible Heun method (Kidger, Foster,
// Li & Lyons 2021, "Efficient and accurate gradients for neural SDEs"): the
// solution Z, the auxiliary state ZHat, and the drift F and diffusion G
// evaluated at (t, ZHat), cached so that each step evaluates them once.
type RevHeunState struct {
	Z, ZHat, F, G *Node
}

// ReversibleHeunInit returns the reversible Heun state at (t, z): ZHat = z
// and F, G evaluated there.
func ReversibleHeunInit(ctx *context.Context, sde SDE, t, z *Node) (RevHeunState, error) {
	sde = sde.withDefaults()
	if err := sde.Validate(); err != nil {
		return RevHeunState{}, err
	}
	f, g, err := evalSDE(ctx, sde, t, z)
	if err != nil {
		return RevHeunState{}, err
	}
	return RevHeunState{Z: z, ZHat: z, F: f, G: g}, nil
}

// ReversibleHeunStep builds one reversible Heun step from t to t+dt
// (Stratonovich):
//
//	ẑ' = 2z − ẑ + f(t,ẑ) dt + g(t,ẑ) dW
//	z' = z + ½(f(t,ẑ) + f(t+dt,ẑ')) dt + ½(g(t,ẑ) + g(t+dt,ẑ')) dW
//
// with f(t,ẑ), g(t,ẑ) taken from s, so one drift and one diffusion
// evaluation per step. ReversibleHeunBackStep inverts it exactly.
func ReversibleHeunStep(ctx *context.Context, sde SDE, t, dt *Node, s RevHeunState, dW *Node) (RevHeunState, error) {
	sde = sde.withDefaults()
	if err := checkNoise(sde, s.Z, dW); err != nil {
		return RevHeunState{}, err
	}
	zh := graph.Sub(graph.MulScalar(s.Z, 2), s.ZHat)
	zh = emUpdate(sde, zh, s.F, s.G, dt, dW)
	f, g, err := evalSDE(ctx, sde, graph.Add(t, dt), zh)
	if err != nil {
		return RevHeunState{}, err
	}
	return RevHeunState{Z: averagedUpdate(sde, s.Z, s.F, s.G, f, g, dt, dW), ZHat: zh, F: f, G: g}, nil
}

// ReversibleHeunBackStep inverts ReversibleHeunStep: given the state s at
// t+dt and the same dW, it returns the state at t:
//
//	ẑ = 2z' − ẑ' − f(t+dt,ẑ') dt − g(t+dt,ẑ') dW
//	z = z' − ½(f(t,ẑ) + f(t+dt,ẑ')) dt − ½(g(t,ẑ) + g(t+dt,ẑ')) dW
//
// which is exact in exact arithmetic (rounding only in floating point). t is
// the start of the step, as in ReversibleHeunStep.
func ReversibleHeunBackStep(ctx *context.Context, sde SDE, t, dt *Node, s RevHeunState, dW *Node) (RevHeunState, error) {
	sde = sde.withDefaults()
	if err := checkNoise(sde, s.Z, dW); err != nil {
		return RevHeunState{}, err
	}
	ndt, ndW := graph.Neg(dt), graph.Neg(dW)
	zh := graph.Sub(graph.MulScalar(s.Z, 2), s.ZHat)
	zh = emUpdate(sde, zh, s.F, s.G, ndt, ndW)
	f, g, err := evalSDE(ctx, sde, t, zh)
	if err != nil {
		return RevHeunState{}, err
	}
	return RevHeunState{Z: averagedUpdate(sde, s.Z, s.F, s.G, f, g, ndt, ndW), ZHat: zh, F: f, G: g}, nil
}

// maxGridSteps bounds the steps of an SDEGrid (2²⁷, a 1 GiB grid), so that a
// tiny dt is refused before its grid is allocated.
const maxGridSteps = 1 << 27

// SDEGrid returns the solver's time grid for save times ts and step dt:
// each interval [ts[i-1], ts[i]] is split into StepsIn(length, dt) equal
// steps, and the grid hits every save time exactly. saveIdx[i] is the index
// of ts[i] in the grid. A Brownian's Increments(grid) gives the noise for
// IntegrateSDE.
func SDEGrid(ts []float64, dt float64) (grid []float64, saveIdx []int, err error) {
	if err := CheckTimes("ts", ts); err != nil {
		return nil, nil, err
	}
	if !(dt > 0) || math.IsInf(dt, 0) {
		return nil, nil, fmt.Errorf("dt must be finite and > 0, got %g", dt)
	}
	grid = []float64{ts[0]}
	saveIdx = []int{0}
	for i := 1; i < len(ts); i++ {
		n, err := StepsIn(ts[i]-ts[i-1], dt)
		if err != nil {
			return nil, nil, err
		}
		if len(grid)+n > maxGridSteps {
			return nil, nil, fmt.Errorf("dt=%g makes more than %d steps by ts[%d]=%g: refused before allocating the grid", dt, maxGridSteps, i, ts[i])
		}
		h := (ts[i] - ts[i-1]) / float64(n)
		for k := 1; k < n; k++ {
			grid = append(grid, ts[i-1]+float64(k)*h)
		}
		grid = append(grid, ts[i])
		saveIdx = append(saveIdx, len(grid)-1)
	}
	return grid, saveIdx, nil
}

// IntegrateSDE solves the SDE from ts[0] to the last save time inside the
// caller's graph, unrolling every step (the direct method: backprop through
// the solver). The grid is SDEGrid(ts, dt); noise (nSteps, batch, m) holds
// the Brownian increments of its steps, typically a graph input fed from
// Brownian.Increments(grid), so a backward pass can replay the same path. It
// returns the states at the save times (the first is z0).
func IntegrateSDE(ctx *context.Context, sde SDE, m Method, z0 *Node, ts []float64, dt float64, noise *Node) ([]*Node, error) {
	sde = sde.withDefaults()
	if err := sde.Validate(); err != nil {
		return nil, fmt.Errorf("diffeq.IntegrateSDE: %w", err)
	}
	if err := checkSDEMethod(sde, m); err != nil {
		return nil, fmt.Errorf("diffeq.IntegrateSDE: %w", err)
	}
	grid, saveIdx, err := SDEGrid(ts, dt)
	if err != nil {
		return nil, fmt.Errorf("diffeq.IntegrateSDE: %w", err)
	}
	if z0.Rank() != 2 {
		return nil, fmt.Errorf("diffeq.IntegrateSDE: z0 must be shaped (batch, d), got %s", z0.Shape())
	}
	nSteps := len(grid) - 1
	wantDims := []int{nSteps, z0.Shape().Dimensions[0], sde.NoiseSize(z0.Shape().Dimensions[1])}
	if noise == nil || noise.Rank() != 3 || noise.Shape().Dimensions[0] != wantDims[0] ||
		noise.Shape().Dimensions[1] != wantDims[1] || noise.Shape().Dimensions[2] != wantDims[2] {
		return nil, fmt.Errorf("diffeq.IntegrateSDE: noise must be shaped %v (steps, batch, m), got %s", wantDims, shapeOf(noise))
	}
	if noise.DType() != z0.DType() {
		noise = graph.ConvertDType(noise, z0.DType())
	}
	at := func(k int) (t, h *Node) { return scalarLike(z0, grid[k]), scalarLike(z0, grid[k+1]-grid[k]) }
	zs, err := sdeSteps(ctx, sde, m, z0, nSteps, at, func(k int) *Node { return noiseAt(noise, k) }, nil)
	if err != nil {
		return nil, fmt.Errorf("diffeq.IntegrateSDE: %w", err)
	}
	out := make([]*Node, len(saveIdx))
	for i, k := range saveIdx {
		out[i] = zs[k]
	}
	return out, nil
}

// noiseAt returns noise[k] as (batch, m).
func noiseAt(noise *Node, k int) *Node {
	return graph.Reshape(graph.Slice(noise, graph.AxisElem(k)), noise.Shape().Dimensions[1:]...)
}

// sdeSteps takes n steps from z0, step k going from at(k) = (t, h) to t+h
// with the increment dW(k), and returns the states at the n+1 grid points.
// For ReversibleHeun, rev (if not nil and set) is the starting state and
// receives the final one; otherwise it starts from ReversibleHeunInit.
func sdeSteps(ctx *context.Context, sde SDE, m Method, z0 *Node, n int, at func(k int) (t, h *Node), dW func(k int) *Node, rev *RevHeunState) ([]*Node, error) {
	zs := make([]*Node, n+1)
	zs[0] = z0
	var err error
	if m == ReversibleHeun {
		s := RevHeunState{}
		if rev != nil && rev.ZHat != nil {
			s = *rev
		} else {
			t, _ := at(0)
			if s, err = ReversibleHeunInit(ctx, sde, t, z0); err != nil {
				return nil, err
			}
		}
		for k := 0; k < n; k++ {
			t, h := at(k)
			if s, err = ReversibleHeunStep(ctx, sde, t, h, s, dW(k)); err != nil {
				return nil, err
			}
			zs[k+1] = s.Z
		}
		if rev != nil {
			*rev = s
		}
		return zs, nil
	}
	for k := 0; k < n; k++ {
		t, h := at(k)
		if zs[k+1], err = StepSDE(ctx, sde, m, t, h, zs[k], dW(k)); err != nil {
			return nil, err
		}
	}
	return zs, nil
}

// Stratonovich returns s in Stratonovich form, the form the Stratonovich
// methods (Heun, SDEMidpoint, ReversibleHeun) and the stochastic adjoint
// discretise: s itself when it is Stratonovich or its noise is additive (the
// two calculi then coincide); for an Ito SDE with diagonal noise the same
// diffusion and the drift f − ½ g ⊙ ∂g/∂z, the diagonal of the Jacobian
// taken as the gradient of Σ g (exact when gᵢ depends on z only through zᵢ,
// as diagonal noise requires). Other Ito noise types are an error: write
// such an SDE in Stratonovich form.
func (s SDE) Stratonovich() (SDE, error) {
	s = s.withDefaults()
	if err := s.Validate(); err != nil {
		return s, err
	}
	if s.Type == Stratonovich {
		return s, nil
	}
	if s.Noise == Additive {
		s.Type = Stratonovich
		return s, nil
	}
	if s.Noise != Diagonal {
		return s, fmt.Errorf("diffeq: an Ito SDE with %s noise cannot be converted to Stratonovich form here (diagonal or additive noise only): write it in Stratonovich form", s.Noise)
	}
	ito := s
	s.Type = Stratonovich
	s.Drift = func(ctx *context.Context, t, z *Node) *Node {
		f := ito.Drift(ctx, t, z)
		g := ito.Diffusion(ctx, t, z)
		dg := graph.Gradient(graph.ReduceAllSum(g), z)[0]
		return graph.Sub(f, graph.MulScalar(graph.Mul(g, dg), 0.5))
	}
	return s, nil
}

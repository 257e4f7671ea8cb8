package diffeq

import (
	"cmp"
	"fmt"
	"math"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// AdaptiveSDESolver solves an SDE with adaptive steps on the host, driven
// by a Brownian motion that answers arbitrary intervals: a rejected step is
// retried on a shorter interval of the same Brownian path, so the solution
// converges to the one driven by that path as the tolerance shrinks (as in
// torchsde's adaptive mode and diffrax's controllers with a virtual Brownian
// tree).
//
// Error estimates, each turned into a ratio by ErrorRatio with Options.RTol
// and ATol (a step is accepted when it is ≤ 1):
//   - Heun and SDEMidpoint (Stratonovich; diagonal, scalar or additive
//     noise): the difference between the step and the Euler predictor
//     z + f·h + g·ΔW built from the step's first evaluation, which costs
//     nothing more (2 evaluations per attempt). The estimate is O(h), so
//     the controller is h ← h·clip(0.8·ratio^(−1), 0.2, 5).
//   - EulerMaruyama (Ito, additive noise): step doubling, one step of h
//     against two of h/2 on the increments over [t, t+h/2] and [t+h/2, t+h]
//     (the one-step increment is their sum); the two half steps are kept.
//     3 evaluations per attempt; the controller is h ← h·clip(0.7·ratio^(−2/3),
//     0.2, 5) (local error O(h^(3/2))).
//
// Steps are shared by the whole batch (the ratio is an RMS over it): solve
// one row at a time (Brownian.Rows) for steps chosen per path.
//
// It is not safe for concurrent use.
type AdaptiveSDESolver struct {
	backend backends.Backend
	ctx     *context.Context
	sde     SDE
	opts    Options
	exec    *context.Exec
}

// NewAdaptiveSDESolver returns an adaptive solver of sde whose weights live
// in ctx. Zero fields of opts take their defaults (Method: Heun for
// Stratonovich, EulerMaruyama for Ito; RTol 1e-6, ATol 1e-9 as for ODEs;
// Dt, the first step, 1/100 of the span).
func NewAdaptiveSDESolver(b backends.Backend, ctx *context.Context, sde SDE, opts Options) (*AdaptiveSDESolver, error) {
	if b == nil {
		return nil, fmt.Errorf("diffeq.NewAdaptiveSDESolver: backend is nil")
	}
	sde = sde.withDefaults()
	if err := sde.Validate(); err != nil {
		return nil, fmt.Errorf("diffeq.NewAdaptiveSDESolver: %w", err)
	}
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("diffeq.NewAdaptiveSDESolver: %w", err)
	}
	opts.Method = cmp.Or(opts.Method, DefaultSDEMethod(sde.Type))
	if err := checkSDEMethod(sde, opts.Method); err != nil {
		return nil, fmt.Errorf("diffeq.NewAdaptiveSDESolver: Options.Method: %w", err)
	}
	switch {
	case opts.Method == Heun || opts.Method == SDEMidpoint:
		if sde.Noise == General {
			return nil, fmt.Errorf("diffeq.NewAdaptiveSDESolver: Options.Method %q with general noise has strong order 1/2 and step doubling cannot see its error (use diagonal, scalar or additive noise)", opts.Method)
		}
	case opts.Method == EulerMaruyama && sde.Noise == Additive:
	default:
		return nil, fmt.Errorf("diffeq.NewAdaptiveSDESolver: Options.Method %q with %s noise is not supported (heun or sde_midpoint with diagonal, scalar or additive noise; euler_maruyama with additive noise)", opts.Method, sde.Noise)
	}
	if ctx == nil {
		ctx = context.New()
	}
	s := &AdaptiveSDESolver{backend: b, ctx: ctx, sde: sde, opts: opts}
	rtol, atol, m := opts.withDefaults(1).RTol, opts.withDefaults(1).ATol, opts.Method
	var err error
	if m == EulerMaruyama {
		s.exec, err = context.NewExec(b, ctx, func(ctx *context.Context, in []*Node) []*Node {
			t, h, z, dW1, dW2 := in[0], in[1], in[2], in[3], in[4]
			half := graph.MulScalar(h, 0.5)
			z1, err := StepSDE(ctx, sde, m, t, half, z, dW1)
			if err != nil {
				panic(err)
			}
			z2, err := StepSDE(ctx, sde, m, graph.Add(t, half), half, z1, dW2)
			if err != nil {
				panic(err)
			}
			zOne, err := StepSDE(ctx, sde, m, t, h, z, graph.Add(dW1, dW2))
			if err != nil {
				panic(err)
			}
			return []*Node{z2, ErrorRatio(graph.Sub(z2, zOne), z, z2, rtol, atol)}
		})
	} else {
		s.exec, err = context.NewExec(b, ctx, func(ctx *context.Context, t, h, z, dW *Node) []*Node {
			zNext, euler := embeddedStep(ctx, sde, m, t, h, z, dW)
			return []*Node{zNext, ErrorRatio(graph.Sub(zNext, euler), z, zNext, rtol, atol)}
		})
	}
	if err != nil {
		return nil, fmt.Errorf("diffeq.NewAdaptiveSDESolver: %w", err)
	}
	return s, nil
}

// Solve integrates from ts[0] to the last save time starting at z0 (batch,
// d), driven by bm (batch, m) over a span that covers ts, and returns the
// states at the save times (each ends a step). NFE counts (drift, diffusion)
// evaluation pairs per attempt (Heun and midpoint 2, Euler–Maruyama 3);
// Steps counts accepted attempts.
func (s *AdaptiveSDESolver) Solve(z0 *tensors.Tensor, ts []float64, bm *Brownian) (*Solution, error) {
	if err := checkState("z0", z0); err != nil {
		return nil, fmt.Errorf("diffeq.AdaptiveSDESolver.Solve: %w", err)
	}
	if err := CheckTimes("ts", ts); err != nil {
		return nil, fmt.Errorf("diffeq.AdaptiveSDESolver.Solve: %w", err)
	}
	if bm == nil {
		return nil, fmt.Errorf("diffeq.AdaptiveSDESolver.Solve: the Brownian motion bm is nil")
	}
	batch, d := z0.Shape().Dim(0), z0.Shape().Dim(1)
	if bb, bmM := bm.Shape(); bb != batch || bmM != s.sde.NoiseSize(d) {
		return nil, fmt.Errorf("diffeq.AdaptiveSDESolver.Solve: bm is (%d, %d), want (batch, m) = (%d, %d) for z0 %s", bb, bmM, batch, s.sde.NoiseSize(d), z0.Shape())
	}
	if b0, b1 := bm.Span(); ts[0] < b0 || ts[len(ts)-1] > b1 {
		return nil, fmt.Errorf("diffeq.AdaptiveSDESolver.Solve: ts [%g, %g] lies outside bm's span [%g, %g]", ts[0], ts[len(ts)-1], b0, b1)
	}
	span := ts[len(ts)-1] - ts[0]
	opts := s.opts.withDefaults(span)
	if eps := machineEps(z0.DType()); opts.RTol < eps/10 {
		return nil, fmt.Errorf("diffeq.AdaptiveSDESolver.Solve: Options.RTol = %g is below a tenth of the %s machine epsilon %.3g", opts.RTol, z0.DType(), eps)
	}
	dtype, m := z0.DType(), s.sde.NoiseSize(d)
	h := cmp.Or(opts.Dt, span/100)
	sol := &Solution{Ts: append([]float64(nil), ts...), Ys: []*tensors.Tensor{z0}, StepTimes: []float64{ts[0]}}
	z, t := z0, ts[0]
	attempts, steps, nonFinite := 0, 0, 0
	doubling := opts.Method == EulerMaruyama
	perAttempt, safety, exponent := SDENFEPerStep(opts.Method), 0.8, -1.0
	if doubling {
		perAttempt, safety, exponent = 3*SDENFEPerStep(opts.Method), 0.7, -2.0/3
	}
	for next := 1; next < len(ts); {
		if attempts >= opts.MaxSteps {
			return nil, fmt.Errorf("diffeq.AdaptiveSDESolver.Solve: %w: Options.MaxSteps=%d reached at t=%g (step %g)", ErrMaxSteps, opts.MaxSteps, t, h)
		}
		if h < opts.MinDt {
			if nonFinite > 0 {
				return nil, fmt.Errorf("diffeq.AdaptiveSDESolver.Solve: %w: drift or diffusion returned non-finite values in every step tried from t=%.10g (step %d)", ErrNonFinite, t, sol.Steps+steps+1)
			}
			return nil, fmt.Errorf("diffeq.AdaptiveSDESolver.Solve: %w at t=%g: step %g below Options.MinDt=%g", ErrStepUnderflow, t, h, opts.MinDt)
		}
		target := ts[next]
		hTry, last := h, false
		if t+hTry >= target || target-(t+hTry) < 1e-12*math.Max(math.Abs(target), math.Abs(t)) {
			hTry, last = target-t, true
		}
		args := []any{ScalarTensor(dtype, t), ScalarTensor(dtype, hTry), z}
		if doubling {
			mid := t + hTry/2
			args = append(args, FromFloat64s(dtype, bm.Increment(t, mid), batch, m), FromFloat64s(dtype, bm.Increment(mid, t+hTry), batch, m))
		} else {
			args = append(args, FromFloat64s(dtype, bm.Increment(t, t+hTry), batch, m))
		}
		attempts++
		out, err := s.exec.Exec(args...)
		if err != nil {
			return nil, fmt.Errorf("diffeq.AdaptiveSDESolver.Solve: step at t=%g: %w", t, err)
		}
		sol.NFE += perAttempt
		ratio := tensorScalar(out[1])
		if math.IsNaN(ratio) || math.IsInf(ratio, 0) {
			nonFinite++
			sol.Rejected++
			h = hTry * 0.2
			continue
		}
		nonFinite = 0
		factor := math.Min(5, math.Max(0.2, safety*math.Pow(math.Max(ratio, 1e-10), exponent)))
		if ratio > 1 {
			sol.Rejected++
			h = hTry * math.Min(1, factor)
			continue
		}
		steps++
		t = t + hTry
		if last {
			t = target
		}
		z = out[0]
		sol.StepTimes = append(sol.StepTimes, t)
		if last {
			sol.Ys = append(sol.Ys, z)
			sol.StepsPerInterval = append(sol.StepsPerInterval, steps)
			sol.Steps += steps
			steps = 0
			next++
		}
		if !last || factor < 1 {
			h = hTry * factor
		}
	}
	sol.NextStep = h
	return sol, nil
}

// embeddedStep builds one Heun or midpoint step of size h from (t, z) with
// the Brownian increment dW and the Euler predictor z + f·h + g·dW from the
// step's first evaluation (the embedded estimate).
func embeddedStep(ctx *context.Context, sde SDE, m Method, t, h, z, dW *Node) (zNext, euler *Node) {
	f, g, err := evalSDE(ctx, sde, t, z)
	if err != nil {
		panic(err)
	}
	incr := graph.Add(graph.Mul(f, h), applyNoise(sde, g, dW))
	euler = graph.Add(z, incr)
	if m == Heun {
		f2, g2, err := evalSDE(ctx, sde, graph.Add(t, h), euler)
		if err != nil {
			panic(err)
		}
		avg := graph.Add(graph.Mul(graph.MulScalar(graph.Add(f, f2), 0.5), h), applyNoise(sde, graph.MulScalar(graph.Add(g, g2), 0.5), dW))
		return graph.Add(z, avg), euler
	}
	half := graph.MulScalar(h, 0.5)
	fm, gm, err := evalSDE(ctx, sde, graph.Add(t, half), graph.Add(z, graph.MulScalar(incr, 0.5)))
	if err != nil {
		panic(err)
	}
	return graph.Add(z, graph.Add(graph.Mul(fm, h), applyNoise(sde, gm, dW))), euler
}

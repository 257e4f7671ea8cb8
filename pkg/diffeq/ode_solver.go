package diffeq

import (
	"cmp"
	"fmt"
	"math"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// ODESolver solves dz/dt = f(t, z) on the host: the time loop runs in Go and
// each call of a compiled executable advances the state by a chunk of steps
// (fixed-step methods) or attempts one step (Dopri5). The executables are
// compiled once per state shape and reused across Solve calls, so an
// ODESolver should be kept and reused (for example across training steps).
//
// It is not safe for concurrent use.
type ODESolver struct {
	backend backends.Backend
	ctx     *context.Context
	f       Func
	opts    Options

	chunks map[int]*context.Exec // fixed-step: n steps per call
	dopri  *context.Exec         // Dopri5: one attempt per call
	eval   *context.Exec         // f(t, z)

	nfe       int
	stepsOnly bool // StepTimes: skip the dense output at the save times
}

// Solution holds the states at the save times and the solver's statistics.
type Solution struct {
	Ts []float64         // the save times
	Ys []*tensors.Tensor // the states at Ts, each shaped like z0
	// StepsPerInterval[i] is the number of accepted steps between Ts[i] and Ts[i+1].
	// (With Options.Dense: the accepted steps that end in (Ts[i], Ts[i+1]].)
	StepsPerInterval []int
	// StepTimes are the boundaries of the accepted steps (Dopri5 only):
	// Ts[0], then the end of each step. See NewStepPlan.
	StepTimes []float64
	// NextStep (Dopri5) is the step the controller proposes after the last
	// one, before any clipping to a save time: pass it to SolveFirstStep to
	// continue an integration (for example after a jump in the state).
	NextStep float64
	Steps    int // accepted steps
	Rejected int // rejected steps (Dopri5)
	NFE      int // evaluations of the vector field
}

// NewODESolver returns a solver of f whose weights live in ctx. Zero fields of
// opts take their defaults (Method RK4).
func NewODESolver(b backends.Backend, ctx *context.Context, f Func, opts Options) (*ODESolver, error) {
	if b == nil {
		return nil, fmt.Errorf("diffeq.NewODESolver: backend is nil")
	}
	if f == nil {
		return nil, fmt.Errorf("diffeq.NewODESolver: f is nil")
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.Method = cmp.Or(opts.Method, RK4)
	if opts.Method.NFEPerStep() == 0 {
		return nil, fmt.Errorf("diffeq.NewODESolver: Options.Method %q is not an ODE method (euler, midpoint, rk4, dopri5)", opts.Method)
	}
	if ctx == nil {
		ctx = context.New()
	}
	s := &ODESolver{backend: b, ctx: ctx, f: f, opts: opts, chunks: map[int]*context.Exec{}}
	var err error
	s.eval, err = context.NewExec(b, ctx, func(ctx *context.Context, t, z *Node) *Node {
		return f(ctx.Reuse(), t, z)
	})
	if err != nil {
		return nil, fmt.Errorf("diffeq.NewODESolver: %w", err)
	}
	if opts.Method == Dopri5 {
		rtol, atol := opts.withDefaults(1).RTol, opts.withDefaults(1).ATol
		s.dopri, err = context.NewExec(b, ctx, func(ctx *context.Context, in []*Node) []*Node {
			t, dt, z, k1 := in[0], in[1], in[2], in[3]
			zNext, ks := dopri5Stages(ctx, f, t, dt, dt, z, k1)
			ratio := ErrorRatio(dopri5Error(dt, ks), z, zNext, rtol, atol)
			return []*Node{zNext, ks[6], ratio, combine(dt, dopriD[:], ks)}
		})
		if err != nil {
			return nil, fmt.Errorf("diffeq.NewODESolver: %w", err)
		}
	}
	return s, nil
}

// Options returns the solver's options.
func (s *ODESolver) Options() Options { return s.opts }

// chunk returns the executable that takes n fixed steps of size dt from t.
func (s *ODESolver) chunk(n int) (*context.Exec, error) {
	if e, ok := s.chunks[n]; ok {
		return e, nil
	}
	m, f := s.opts.Method, s.f
	e, err := context.NewExec(s.backend, s.ctx, func(ctx *context.Context, t, dt, z *Node) *Node {
		out, err := stepsOn(ctx, m, f, t, dt, z, n)
		if err != nil {
			panic(err)
		}
		return out
	})
	if err != nil {
		return nil, err
	}
	s.chunks[n] = e
	return e, nil
}

// Eval returns f(t, z), counting one evaluation.
func (s *ODESolver) Eval(t float64, z *tensors.Tensor) (*tensors.Tensor, error) {
	out, err := s.eval.Exec(ScalarTensor(z.DType(), t), z)
	if err != nil {
		return nil, fmt.Errorf("diffeq: evaluating f at t=%g: %w", t, err)
	}
	s.nfe++
	return out[0], nil
}

// Solve integrates from ts[0] to the last save time starting at z0 (batch, d)
// and returns the states at every save time.
func (s *ODESolver) Solve(z0 *tensors.Tensor, ts []float64) (*Solution, error) {
	return s.SolveFirstStep(z0, ts, 0)
}

// StepTimes runs Solve's adaptive Dopri5 solve but keeps only the
// boundaries of the accepted steps (Solution.StepTimes) and the number of
// evaluations, not the states at the save times: what a StepPlan needs.
func (s *ODESolver) StepTimes(z0 *tensors.Tensor, ts []float64) (stepTimes []float64, nfe int, err error) {
	if s.opts.Method != Dopri5 {
		return nil, 0, fmt.Errorf("diffeq.StepTimes: Options.Method is %q, want dopri5", s.opts.Method)
	}
	s.stepsOnly = true
	defer func() { s.stepsOnly = false }()
	sol, err := s.SolveFirstStep(z0, ts, 0)
	if err != nil {
		return nil, 0, err
	}
	return sol.StepTimes, sol.NFE, nil
}

// SolveFirstStep is Solve with Dopri5's first step h (0: Options.Dt, or
// chosen from z0 and f(t0, z0) if that is 0 too). Fixed-step methods ignore
// h.
func (s *ODESolver) SolveFirstStep(z0 *tensors.Tensor, ts []float64, h float64) (*Solution, error) {
	if err := checkState("z0", z0); err != nil {
		return nil, fmt.Errorf("diffeq.Solve: %w", err)
	}
	if err := CheckTimes("ts", ts); err != nil {
		return nil, fmt.Errorf("diffeq.Solve: %w", err)
	}
	if h < 0 || math.IsNaN(h) || math.IsInf(h, 0) {
		return nil, fmt.Errorf("diffeq.Solve: the first step h must be finite and ≥ 0, got %g", h)
	}
	s.nfe = 0
	sol := &Solution{Ts: append([]float64(nil), ts...), Ys: []*tensors.Tensor{z0}}
	var err error
	if s.opts.Method == Dopri5 {
		err = s.solveAdaptive(z0, ts, h, sol)
	} else {
		err = s.solveFixed(z0, ts, sol)
	}
	sol.NFE = s.nfe
	if err != nil {
		return nil, err
	}
	return sol, nil
}

func (s *ODESolver) solveFixed(z0 *tensors.Tensor, ts []float64, sol *Solution) error {
	opts := s.opts.withDefaults(ts[len(ts)-1] - ts[0])
	dtype := z0.DType()
	z := z0
	for i := 1; i < len(ts); i++ {
		n := StepsIn(ts[i]-ts[i-1], opts.Dt)
		if sol.Steps+n > opts.MaxSteps {
			return fmt.Errorf("diffeq.Solve: %w: more than Options.MaxSteps=%d steps by t=%g", ErrMaxSteps, opts.MaxSteps, ts[i])
		}
		h := (ts[i] - ts[i-1]) / float64(n)
		for done := 0; done < n; {
			k := min(opts.Chunk, n-done)
			e, err := s.chunk(k)
			if err != nil {
				return fmt.Errorf("diffeq.Solve: compiling a %d-step chunk: %w", k, err)
			}
			t := ts[i-1] + float64(done)*h
			out, err := e.Exec(ScalarTensor(dtype, t), ScalarTensor(dtype, h), z)
			if err != nil {
				return fmt.Errorf("diffeq.Solve: steps from t=%g: %w", t, err)
			}
			z = out[0]
			done += k
			s.nfe += k * s.opts.Method.NFEPerStep()
		}
		sol.Steps += n
		sol.StepsPerInterval = append(sol.StepsPerInterval, n)
		sol.Ys = append(sol.Ys, z)
	}
	return nil
}

// rms returns the root mean square of x / (atol + rtol·|scale|).
func rms(x, scale []float64, rtol, atol float64) float64 {
	var acc float64
	for i, v := range x {
		r := v / (atol + rtol*math.Abs(scale[i]))
		acc += r * r
	}
	return math.Sqrt(acc / float64(len(x)))
}

// initialStep chooses a first step from the sizes of z0 and f(t0, z0)
// (Hairer, Nørsett & Wanner, Solving ODEs I, II.4, first part).
func initialStep(z0, f0 []float64, rtol, atol, span float64) float64 {
	d0, d1 := rms(z0, z0, rtol, atol), rms(f0, z0, rtol, atol)
	h := 1e-6
	if d0 >= 1e-5 && d1 >= 1e-5 {
		h = 0.01 * d0 / d1
	}
	return math.Min(h, span)
}

// stepFactor returns the factor by which Dopri5 scales its step after an
// attempt with error ratio r (0.9·r^(−1/5), within [0.2, 10]).
func stepFactor(r float64) float64 {
	const safety, minFactor, maxFactor = 0.9, 0.2, 10.0
	if r <= 0 {
		return maxFactor
	}
	return math.Min(maxFactor, math.Max(minFactor, safety*math.Pow(r, -0.2)))
}

// solveAdaptive runs Dopri5 with error control. Without Options.Dense every
// save time ends a step; with it the steps run over the save times and the
// states there come from the dense output (the last save time ends a step).
func (s *ODESolver) solveAdaptive(z0 *tensors.Tensor, ts []float64, h0 float64, sol *Solution) error {
	span := ts[len(ts)-1] - ts[0]
	opts := s.opts.withDefaults(span)
	dtype := z0.DType()
	k1, err := s.Eval(ts[0], z0)
	if err != nil {
		return fmt.Errorf("diffeq.Solve: %w", err)
	}
	h := h0
	if h == 0 {
		h = opts.Dt
	}
	if h == 0 {
		zv, _ := Float64s(z0)
		fv, _ := Float64s(k1)
		h = initialStep(zv, fv, opts.RTol, opts.ATol, span)
	}
	z, t := z0, ts[0]
	sol.StepTimes = []float64{t}
	attempts, steps := 0, 0
	for next := 1; next < len(ts); {
		if attempts >= opts.MaxSteps {
			return fmt.Errorf("diffeq.Solve: %w: Options.MaxSteps=%d reached at t=%g (step %g)", ErrMaxSteps, opts.MaxSteps, t, h)
		}
		if h < opts.MinDt {
			return fmt.Errorf("diffeq.Solve: %w at t=%g: step %g below Options.MinDt=%g (stiff problem or singularity?)", ErrStepUnderflow, t, h, opts.MinDt)
		}
		target := ts[next]
		if opts.Dense {
			target = ts[len(ts)-1]
		}
		hTry, last := h, false
		if t+hTry >= target || target-(t+hTry) < 1e-12*span {
			hTry, last = target-t, true
		}
		attempts++
		out, err := s.dopri.Exec(ScalarTensor(dtype, t), ScalarTensor(dtype, hTry), z, k1)
		if err != nil {
			return fmt.Errorf("diffeq.Solve: Dopri5 step at t=%g: %w", t, err)
		}
		s.nfe += 6
		ratio := tensorScalar(out[2])
		if math.IsNaN(ratio) || math.IsInf(ratio, 0) {
			// Shrink on non-finite errors: the step went past a blow-up.
			h = hTry * 0.2
			sol.Rejected++
			continue
		}
		factor := stepFactor(ratio)
		if ratio > 1 {
			sol.Rejected++
			h = hTry * math.Min(1, factor)
			continue
		}
		tNew := t + hTry
		if last {
			tNew = target
		}
		steps++
		sol.StepTimes = append(sol.StepTimes, tNew)
		if opts.Dense {
			var terms [5][]float64
			for next < len(ts) && (ts[next] <= tNew || next == len(ts)-1 && last) {
				if s.stepsOnly {
					sol.StepsPerInterval = append(sol.StepsPerInterval, steps)
					sol.Steps += steps
					steps = 0
					next++
					continue
				}
				if terms[0] == nil {
					terms, err = hostDenseTerms(z, out[0], k1, out[1], out[3], hTry)
					if err != nil {
						return fmt.Errorf("diffeq.Solve: dense output: %w", err)
					}
				}
				theta := math.Min(1, (ts[next]-t)/hTry)
				sol.Ys = append(sol.Ys, FromFloat64s(dtype, denseAt(terms, theta), z0.Shape().Dimensions...))
				sol.StepsPerInterval = append(sol.StepsPerInterval, steps)
				sol.Steps += steps
				steps = 0
				next++
			}
		} else if last {
			sol.Ys = append(sol.Ys, out[0])
			sol.StepsPerInterval = append(sol.StepsPerInterval, steps)
			sol.Steps += steps
			steps = 0
			next++
		}
		z, k1, t = out[0], out[1], tNew
		if !last || factor < 1 {
			h = hTry * factor
		}
	}
	sol.NextStep = h
	return nil
}

// hostDenseTerms returns the dense-output terms of a step (see denseTerms).
func hostDenseTerms(y0, y1, f0, f1, r5 *tensors.Tensor, h float64) ([5][]float64, error) {
	var vs [5][]float64
	for i, x := range []*tensors.Tensor{y0, y1, f0, f1, r5} {
		v, err := Float64s(x)
		if err != nil {
			return vs, err
		}
		vs[i] = v
	}
	return denseTerms(vs[0], vs[1], vs[2], vs[3], vs[4], h), nil
}

// tensorScalar returns a scalar tensor's value as float64.
func tensorScalar(t *tensors.Tensor) float64 {
	v, err := Float64s(t)
	if err != nil || len(v) != 1 {
		return math.NaN()
	}
	return v[0]
}

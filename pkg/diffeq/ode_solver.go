package diffeq

import (
	"cmp"
	"fmt"
	"math"
	"strings"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// ODESolver solves dz/dt = f(t, z) on the host: the time loop runs in Go and
// each call of a compiled executable advances the state by a chunk of steps
// (fixed-step methods) or attempts one step (adaptive methods). The
// executables are compiled once per state shape and reused across Solve
// calls, so an ODESolver should be kept and reused (for example across
// training steps).
//
// It is not safe for concurrent use.
type ODESolver struct {
	backend backends.Backend
	ctx     *context.Context
	f       Func // f with its output checked against the state (checkedField)
	opts    Options

	chunks map[int]*context.Exec // fixed-step: n steps per call
	step   *context.Exec         // explicit adaptive: one attempt per call
	dense8 *context.Exec         // Dopri8: the continuous extension's extra stages
	eval   *context.Exec         // f(t, z)
	jac    *context.Exec         // Kvaerno5: f(t, z) and its Jacobian per row
	event  *context.Exec         // Options.Event: g(t, z)

	implicit *implicitCache // Kvaerno5: f and its Jacobian at the current state

	nfe, jacobians int
	stepsOnly      bool // StepTimes: skip the dense output at the save times
}

// Solution holds the states at the save times and the solver's statistics.
type Solution struct {
	Ts []float64         // the save times
	Ys []*tensors.Tensor // the states at Ts, each shaped like z0
	// StepsPerInterval[i] is the number of accepted steps between Ts[i] and Ts[i+1].
	// (With Options.Dense: the accepted steps that end in (Ts[i], Ts[i+1]].)
	StepsPerInterval []int
	// StepTimes are the boundaries of the accepted steps (adaptive methods):
	// Ts[0], then the end of each step. See NewStepPlan.
	StepTimes []float64
	// NextStep (adaptive methods) is the step the controller proposes after
	// the last one, before any clipping to a save time: pass it to
	// SolveFirstStep to continue an integration (for example after a jump in
	// the state).
	NextStep float64
	Steps    int // accepted steps
	Rejected int // rejected steps (adaptive methods)
	NFE      int // evaluations of the vector field
	// Jacobians counts the Jacobians of f evaluated (Kvaerno5); each costs
	// about d evaluations' worth of reverse-mode passes.
	Jacobians int
	// Event (with Options.Event) is the first root of the event function, or
	// nil when the solve reached the last save time without one. When set,
	// Ts and Ys hold only the save times before the event.
	Event *Event
}

// odeMethods lists the methods NewODESolver accepts, for messages.
const odeMethods = "euler, midpoint, rk4, dopri5, tsit5, bosh3, dopri8, kvaerno5"

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
		return nil, fmt.Errorf("diffeq.NewODESolver: Options.Method %q is not an ODE method (%s)", opts.Method, odeMethods)
	}
	if opts.Event != nil && !opts.Method.IsAdaptive() {
		return nil, fmt.Errorf("diffeq.NewODESolver: Options.Event needs an adaptive method (it is located on the dense output), got Options.Method %q", opts.Method)
	}
	if ctx == nil {
		ctx = context.New()
	}
	fc := checkedField(f)
	s := &ODESolver{backend: b, ctx: ctx, f: fc, opts: opts, chunks: map[int]*context.Exec{}}
	var err error
	s.eval, err = context.NewExec(b, ctx, func(ctx *context.Context, t, z *Node) *Node {
		return fc(ctx.Checked(false), t, z)
	})
	if err != nil {
		return nil, fmt.Errorf("diffeq.NewODESolver: %w", err)
	}
	m := opts.Method
	if tb := tableauOf(m); tb != nil {
		rtol, atol := opts.withDefaults(1).RTol, opts.withDefaults(1).ATol
		s.step, err = context.NewExec(b, ctx, func(ctx *context.Context, in []*Node) []*Node {
			t, dt, z, k1 := in[0], in[1], in[2], in[3]
			if m == Dopri5 {
				zNext, ks := dopri5Stages(ctx, fc, t, dt, dt, z, k1)
				ratio := ErrorRatio(dopri5Error(dt, ks), z, zNext, rtol, atol)
				return []*Node{zNext, ks[6], ratio, combine(dt, dopriD[:], ks)}
			}
			zNext, kNext, ks := tb.stages(ctx, fc, t, dt, z, k1)
			out := []*Node{zNext, kNext, tb.ratio(dt, z, zNext, ks, rtol, atol)}
			if m == Tsit5 || m == Dopri8 {
				out = append(out, ks...) // for the dense output
			}
			return out
		})
		if err != nil {
			return nil, fmt.Errorf("diffeq.NewODESolver: %w", err)
		}
	}
	if m == Kvaerno5 {
		s.jac, err = context.NewExec(b, ctx, func(ctx *context.Context, t, z *Node) []*Node {
			return rowJacobian(ctx, fc, t, z)
		})
		if err != nil {
			return nil, fmt.Errorf("diffeq.NewODESolver: %w", err)
		}
	}
	if m == Dopri8 {
		s.dense8, err = context.NewExec(b, ctx, func(ctx *context.Context, in []*Node) []*Node {
			return dop853Dense(ctx, fc, in[0], in[1], in[2], in[3:])
		})
		if err != nil {
			return nil, fmt.Errorf("diffeq.NewODESolver: %w", err)
		}
	}
	return s, nil
}

// checkedField wraps f so that an output of another shape or dtype than the
// state's is an error naming both, and a failure inside f (typically weights
// of another dtype than the state's) says which state it was given and lists
// the context's float variables of another dtype.
func checkedField(f Func) Func {
	return func(ctx *context.Context, t, z *Node) (out *Node) {
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			if e, ok := r.(error); ok && strings.HasPrefix(e.Error(), "diffeq: the vector field f returned") {
				panic(e)
			}
			panic(fmt.Errorf("diffeq: the vector field f failed on a state of dtype %s shaped %s (t of dtype %s)%s: %v",
				z.DType(), z.Shape(), t.DType(), otherDTypeVars(ctx, z.DType()), r))
		}()
		return callField(ctx, f, t, z)
	}
}

// otherDTypeVars describes the float variables of ctx whose dtype is not
// dtype ("" if none).
func otherDTypeVars(ctx *context.Context, dtype dtypes.DType) string {
	var names []string
	for v := range ctx.IterVariables() {
		if dt := v.DType(); dt.IsFloat() && dt != dtype {
			names = append(names, fmt.Sprintf("%s is %s", v.ScopeAndName(), dt))
			if len(names) == 4 {
				break
			}
		}
	}
	if len(names) == 0 {
		return ""
	}
	return fmt.Sprintf("; variables of another dtype than the state's %s: %s", dtype, strings.Join(names, ", "))
}

// Options returns the solver's options.
func (s *ODESolver) Options() Options { return s.opts }

// chunk returns the executable that takes n fixed steps of size dt from t
// and reports whether the result is finite.
func (s *ODESolver) chunk(n int) (*context.Exec, error) {
	if e, ok := s.chunks[n]; ok {
		return e, nil
	}
	m, f := s.opts.Method, s.f
	e, err := context.NewExec(s.backend, s.ctx, func(ctx *context.Context, t, dt, z *Node) []*Node {
		out, err := stepsOn(ctx, m, f, t, dt, z, n)
		if err != nil {
			panic(err)
		}
		return []*Node{out, isFiniteAll(out)}
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

// machineEps returns the spacing of dtype's numbers at 1.
func machineEps(dtype dtypes.DType) float64 {
	if dtype == dtypes.Float32 {
		return 0x1p-23
	}
	return 0x1p-52
}

// SolveFirstStep is Solve with an adaptive method's first step h (0:
// Options.Dt, or chosen from z0 and f(t0, z0) if that is 0 too). Fixed-step
// methods ignore h.
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
	if s.opts.Method.IsAdaptive() {
		rtol := s.opts.withDefaults(1).RTol
		// A tenth of the epsilon still lets steps pass (torchdiffeq's
		// default 1e-7 on float32 states works); far below it no step can.
		if eps := machineEps(z0.DType()); rtol < eps/10 {
			return nil, fmt.Errorf("diffeq.Solve: Options.RTol = %g is below the %s machine epsilon %.3g: no step can meet it (use RTol ≥ %.0e)",
				rtol, z0.DType(), eps, eps)
		}
	}
	s.nfe, s.jacobians, s.implicit = 0, 0, nil
	sol := &Solution{Ts: append([]float64(nil), ts...), Ys: []*tensors.Tensor{z0}}
	var err error
	if s.opts.Method.IsAdaptive() {
		err = s.solveAdaptive(z0, ts, h, sol)
	} else {
		err = s.solveFixed(z0, ts, sol)
	}
	sol.NFE, sol.Jacobians = s.nfe, s.jacobians
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
		n, err := StepsIn(ts[i]-ts[i-1], opts.Dt)
		if err != nil {
			return fmt.Errorf("diffeq.Solve: Options.Dt: %w", err)
		}
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
			s.nfe += k * s.opts.Method.NFEPerStep()
			if !out[1].Value().(bool) {
				return s.locateNonFinite(z, t, h, k, sol.Steps+done)
			}
			z = out[0]
			done += k
		}
		sol.Steps += n
		sol.StepsPerInterval = append(sol.StepsPerInterval, n)
		sol.Ys = append(sol.Ys, z)
	}
	return nil
}

// locateNonFinite replays, one step at a time, a chunk of k steps of size h
// from (t, z) whose result was not finite (step0 steps were taken before
// it), and names the first step that produced NaN or Inf.
func (s *ODESolver) locateNonFinite(z *tensors.Tensor, t, h float64, k, step0 int) error {
	one, err := s.chunk(1)
	if err != nil {
		return fmt.Errorf("diffeq.Solve: %w between t=%g and t=%g", ErrNonFinite, t, t+float64(k)*h)
	}
	dtype := z.DType()
	for j := range k {
		tj := t + float64(j)*h
		out, err := one.Exec(ScalarTensor(dtype, tj), ScalarTensor(dtype, h), z)
		if err != nil {
			return fmt.Errorf("diffeq.Solve: replaying the step from t=%g: %w", tj, err)
		}
		if !out[1].Value().(bool) {
			return fmt.Errorf("diffeq.Solve: %w: vector field returned non-finite values in the step from t=%g to t=%g (step %d)",
				ErrNonFinite, tj, tj+h, step0+j+1)
		}
		z = out[0]
	}
	return fmt.Errorf("diffeq.Solve: %w: vector field returned non-finite values between t=%g and t=%g (steps %d to %d)",
		ErrNonFinite, t, t+float64(k)*h, step0+1, step0+k)
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
func stepFactor(r float64) float64 { return stepFactorOrder(r, 4) }

// stepFactorOrder returns the step factor after an attempt with error ratio
// r of a method whose error estimate has order q: 0.9·r^(−1/(q+1)), within
// [0.2, 10].
func stepFactorOrder(r float64, q int) float64 {
	const safety, minFactor, maxFactor = 0.9, 0.2, 10.0
	if r <= 0 {
		return maxFactor
	}
	return math.Min(maxFactor, math.Max(minFactor, safety*math.Pow(r, -1/float64(q+1))))
}

// errOrder returns the order of m's error estimate.
func errOrder(m Method) int {
	if tb := tableauOf(m); tb != nil {
		return tb.errOrder
	}
	return 4 // Kvaerno5
}

// attempt is the result of one attempted adaptive step.
type attempt struct {
	zNext, kNext *tensors.Tensor
	ratio        float64           // error ratio (≤ 1: accept); NaN/Inf: non-finite values
	extra        []*tensors.Tensor // what the dense output needs
	failed       string            // an implicit step whose Newton iterations failed: why
}

// try attempts one step of size h from (t, z) with k1 = f(t, z).
func (s *ODESolver) try(t, h float64, z, k1 *tensors.Tensor) (*attempt, error) {
	if s.opts.Method == Kvaerno5 {
		return s.tryImplicit(t, h, z, k1)
	}
	dtype := z.DType()
	out, err := s.step.Exec(ScalarTensor(dtype, t), ScalarTensor(dtype, h), z, k1)
	if err != nil {
		return nil, fmt.Errorf("diffeq.Solve: %s step at t=%g: %w", s.opts.Method, t, err)
	}
	s.nfe += s.opts.Method.NFEPerStep()
	return &attempt{zNext: out[0], kNext: out[1], ratio: tensorScalar(out[2]), extra: out[3:]}, nil
}

// denseOutput returns the continuous extension of an accepted step of size
// h from (t, z, k1).
func (s *ODESolver) denseOutput(t, h float64, z, k1 *tensors.Tensor, a *attempt) (func(theta float64) []float64, error) {
	host := func(xs ...*tensors.Tensor) ([][]float64, error) {
		out := make([][]float64, len(xs))
		for i, x := range xs {
			v, err := Float64s(x)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	switch s.opts.Method {
	case Dopri5:
		terms, err := hostDenseTerms(z, a.zNext, k1, a.kNext, a.extra[0], h)
		if err != nil {
			return nil, err
		}
		return func(theta float64) []float64 { return denseAt(terms, theta) }, nil
	case Tsit5:
		v, err := host(append([]*tensors.Tensor{z}, a.extra...)...)
		if err != nil {
			return nil, err
		}
		return func(theta float64) []float64 {
			w := tsit5DenseWeights(theta)
			out := append([]float64(nil), v[0]...)
			for j, k := range v[1:] {
				for i := range out {
					out[i] += h * w[j] * k[i]
				}
			}
			return out
		}, nil
	case Dopri8:
		dtype := z.DType()
		args := []any{ScalarTensor(dtype, t), ScalarTensor(dtype, h), z}
		for _, k := range a.extra {
			args = append(args, k)
		}
		rs, err := s.dense8.Exec(args...)
		if err != nil {
			return nil, fmt.Errorf("Dopri8 dense output at t=%g: %w", t, err)
		}
		s.nfe += 3
		v, err := host(append([]*tensors.Tensor{z, a.zNext, k1, a.kNext}, rs...)...)
		if err != nil {
			return nil, err
		}
		var r [8][]float64
		n := len(v[0])
		r[0] = v[0]
		r[1], r[2], r[3] = make([]float64, n), make([]float64, n), make([]float64, n)
		for i := range n {
			r[1][i] = v[1][i] - v[0][i]
			r[2][i] = h*v[2][i] - r[1][i]
			r[3][i] = r[1][i] - h*v[3][i] - r[2][i]
		}
		copy(r[4:], v[4:])
		return func(theta float64) []float64 { return dop853At(r, theta) }, nil
	}
	// Bosh3, Kvaerno5: cubic Hermite.
	v, err := host(z, a.zNext, k1, a.kNext)
	if err != nil {
		return nil, err
	}
	return func(theta float64) []float64 { return hermite(v[0], v[1], v[2], v[3], h, theta) }, nil
}

// solveAdaptive runs an adaptive method with error control. Without
// Options.Dense every save time ends a step; with it the steps run over the
// save times and the states there come from the dense output (the last save
// time ends a step).
func (s *ODESolver) solveAdaptive(z0 *tensors.Tensor, ts []float64, h0 float64, sol *Solution) error {
	span := ts[len(ts)-1] - ts[0]
	opts := s.opts.withDefaults(span)
	dtype := z0.DType()
	q := errOrder(opts.Method)
	k1, err := s.Eval(ts[0], z0)
	if err != nil {
		return fmt.Errorf("diffeq.Solve: %w", err)
	}
	fv, err := Float64s(k1)
	if err != nil {
		return fmt.Errorf("diffeq.Solve: %w", err)
	}
	if !finiteF64(fv) {
		return fmt.Errorf("diffeq.Solve: %w: vector field returned non-finite values at t=%g (step 0, the initial state)", ErrNonFinite, ts[0])
	}
	h := h0
	if h == 0 {
		h = opts.Dt
	}
	if h == 0 {
		zv, _ := Float64s(z0)
		h = initialStep(zv, fv, opts.RTol, opts.ATol, span)
	}
	var ev *eventState
	if opts.Event != nil {
		if ev, err = s.newEventState(ts[0], z0); err != nil {
			return err
		}
	}
	z, t := z0, ts[0]
	sol.StepTimes = []float64{t}
	attempts, steps, nonFinite := 0, 0, 0
	noGrow := false  // Kvaerno5: after a rejection the next accepted step does not grow
	lastFailed := "" // Kvaerno5: why the last attempt's Newton iterations failed
	for next := 1; next < len(ts); {
		if attempts >= opts.MaxSteps {
			return fmt.Errorf("diffeq.Solve: %w: Options.MaxSteps=%d reached at t=%g (step %g)", ErrMaxSteps, opts.MaxSteps, t, h)
		}
		minDt := opts.MinDt
		if s.opts.MinDt == 0 {
			// Default: the step no longer moves t in the dtype (16 ulps of t),
			// or 1e-12 of the span near t = 0.
			minDt = math.Max(16*machineEps(dtype)*math.Abs(t), 1e-12*span*machineEps(dtype))
		}
		if h < minDt {
			if nonFinite > 0 {
				return fmt.Errorf("diffeq.Solve: %w: vector field returned non-finite values in every step tried from t=%.10g (step %d; the last %d attempts, down to step size %.3g)",
					ErrNonFinite, t, sol.Steps+steps+1, nonFinite, h/0.2)
			}
			why := "stiff problem or singularity?"
			if lastFailed != "" {
				why = "last attempt: " + lastFailed
			}
			return fmt.Errorf("diffeq.Solve: %w at t=%g: step %g below Options.MinDt=%g (%s)", ErrStepUnderflow, t, h, minDt, why)
		}
		target := ts[next]
		if opts.Dense {
			target = ts[len(ts)-1]
		}
		hTry, last := h, false
		// A sliver below 1e-12 of the times' size joins the step (relative to
		// the times, not the span: a span of 4e10 may start with steps of 1e-6).
		if t+hTry >= target || target-(t+hTry) < 1e-12*math.Max(math.Abs(target), math.Abs(t)) {
			hTry, last = target-t, true
		}
		attempts++
		a, err := s.try(t, hTry, z, k1)
		if err != nil {
			return err
		}
		lastFailed = a.failed
		if a.failed != "" {
			noGrow = true
			h = hTry * 0.5
			sol.Rejected++
			continue
		}
		if math.IsNaN(a.ratio) || math.IsInf(a.ratio, 0) {
			// Shrink on non-finite errors: the step went past a blow-up or f
			// returned NaN/Inf inside it.
			nonFinite++
			h = hTry * 0.2
			sol.Rejected++
			continue
		}
		nonFinite = 0
		factor := stepFactorOrder(a.ratio, q)
		if a.ratio > 1 {
			noGrow = opts.Method.IsImplicit()
			sol.Rejected++
			h = hTry * math.Min(1, factor)
			continue
		}
		tNew := t + hTry
		if last {
			tNew = target
		}
		var dense func(float64) []float64
		denseAt := func(tq float64) ([]float64, error) {
			if dense == nil {
				if dense, err = s.denseOutput(t, hTry, z, k1, a); err != nil {
					return nil, fmt.Errorf("diffeq.Solve: dense output: %w", err)
				}
			}
			return dense(math.Min(1, math.Max(0, (tq-t)/hTry))), nil
		}
		if ev != nil {
			hit, err := ev.check(s, t, tNew, a, denseAt)
			if err != nil {
				return err
			}
			if hit != nil {
				// Save times before the event inside this step (dense output).
				for opts.Dense && next < len(ts) && ts[next] < hit.T {
					v, err := denseAt(ts[next])
					if err != nil {
						return err
					}
					sol.Ys = append(sol.Ys, FromFloat64s(dtype, v, z0.Shape().Dimensions...))
					sol.StepsPerInterval = append(sol.StepsPerInterval, steps)
					sol.Steps += steps
					steps = 0
					next++
				}
				sol.Steps += steps + 1
				sol.StepTimes = append(sol.StepTimes, hit.T)
				sol.Ts = sol.Ts[:len(sol.Ys)]
				sol.Event = hit
				sol.NextStep = h
				return nil
			}
		}
		steps++
		sol.StepTimes = append(sol.StepTimes, tNew)
		if opts.Dense {
			for next < len(ts) && (ts[next] <= tNew || next == len(ts)-1 && last) {
				if !s.stepsOnly {
					if next == len(ts)-1 && last {
						sol.Ys = append(sol.Ys, a.zNext)
					} else {
						v, err := denseAt(ts[next])
						if err != nil {
							return err
						}
						sol.Ys = append(sol.Ys, FromFloat64s(dtype, v, z0.Shape().Dimensions...))
					}
				}
				sol.StepsPerInterval = append(sol.StepsPerInterval, steps)
				sol.Steps += steps
				steps = 0
				next++
			}
		} else if last {
			sol.Ys = append(sol.Ys, a.zNext)
			sol.StepsPerInterval = append(sol.StepsPerInterval, steps)
			sol.Steps += steps
			steps = 0
			next++
		}
		z, k1, t = a.zNext, a.kNext, tNew
		if noGrow {
			factor, noGrow = math.Min(factor, 1), false
		}
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

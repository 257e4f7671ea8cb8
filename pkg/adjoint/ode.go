package adjoint

import (
	"fmt"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/diffeq"
)

// Options configure an ODE adjoint.
type Options struct {
	// Solver configures both the forward solve and the backward solve of the
	// augmented system (same method, step and tolerances). For Dopri5 the
	// backward error control covers the whole augmented state [z, a, dL/dθ].
	Solver diffeq.Options
	// Params are the trainable variables to differentiate. Nil: every
	// trainable variable the vector field uses. A variable listed here that
	// the vector field does not use is an error.
	Params []*context.Variable
	// CheckpointEvery, if > 0, stores the forward state every k solver steps
	// (for Dopri5: every k accepted steps of a first solve, then the save
	// intervals are split accordingly and solved again). The backward pass
	// resets z to the stored forward state at every checkpoint, so errors of
	// integrating z backwards do not accumulate over more than k steps. The
	// memory cost is one state per checkpoint. At the save times z is always
	// reset to the forward solution.
	CheckpointEvery int
}

// ODE computes gradients of a loss of an ODE solution by the continuous
// adjoint method: it solves dz/dt = f(t, z) forward, then the augmented
// system [z, a = dL/dz, dL/dθ] backwards in time, with the vector–Jacobian
// products aᵀ∂f/∂z and aᵀ∂f/∂θ built by GoMLX autodiff. Memory does not grow
// with the number of steps.
//
// An ODE compiles its executables once per state shape; keep and reuse it.
// It is not safe for concurrent use.
type ODE struct {
	backend backends.Backend
	ctx     *context.Context
	f       diffeq.Func
	opts    Options
	fwd     *diffeq.ODESolver
	bwd     map[[2]int]*diffeq.ODESolver
	params  []*context.Variable
	probed  bool
}

// Trajectory is a forward solution kept for a backward pass.
type Trajectory struct {
	Ts []float64         // the save times
	Ys []*tensors.Tensor // the states at Ts (Ys[0] is z0)
	// NFE counts forward evaluations of the vector field (drift and
	// diffusion pairs for SDEs).
	NFE int
	// Steps counts the accepted forward steps.
	Steps int

	grid   []float64         // save and checkpoint times
	gridYs []*tensors.Tensor // states at grid times
	save   []int             // grid index of each save time

	sde *sdeTrajectory // SDE-specific state

	// from is the ODE or SDE whose Forward made the trajectory: Backward
	// takes only its own (the states, grid and noise are those of its solve).
	from any
}

// NewODE returns the adjoint of dz/dt = f(t, z) whose weights live in ctx.
func NewODE(b backends.Backend, ctx *context.Context, f diffeq.Func, opts Options) (*ODE, error) {
	if b == nil {
		return nil, fmt.Errorf("adjoint.NewODE: backend is nil")
	}
	if f == nil {
		return nil, fmt.Errorf("adjoint.NewODE: f is nil")
	}
	if ctx == nil {
		ctx = context.New()
	}
	if opts.CheckpointEvery < 0 {
		return nil, fmt.Errorf("adjoint.NewODE: Options.CheckpointEvery must be ≥ 0, got %d", opts.CheckpointEvery)
	}
	ctx = ctx.Checked(false)
	fwd, err := diffeq.NewODESolver(b, ctx, f, opts.Solver)
	if err != nil {
		return nil, fmt.Errorf("adjoint.NewODE: %w", err)
	}
	opts.Solver = fwd.Options()
	return &ODE{backend: b, ctx: ctx, f: f, opts: opts, fwd: fwd, bwd: map[[2]int]*diffeq.ODESolver{}}, nil
}

// Params returns the variables differentiated (known after the first
// Forward).
func (o *ODE) Params() []*context.Variable { return o.params }

// probe finds the parameters and checks f's output shape.
func (o *ODE) probe(t float64, z0 *tensors.Tensor) error {
	if o.probed {
		return nil
	}
	var outShape string
	params, err := discoverParams(o.backend, o.ctx, "vector field f", func(ctx *context.Context, t, z *Node) []*Node {
		out := o.f(ctx, t, z)
		outShape = out.Shape().String()
		if !out.Shape().Equal(z.Shape()) {
			return []*Node{z}
		}
		return []*Node{out}
	}, t, z0, o.opts.Params)
	if err != nil {
		return err
	}
	if outShape != z0.Shape().String() {
		return fmt.Errorf("adjoint: f must return the state's shape %s, got %s", z0.Shape(), outShape)
	}
	o.params, o.probed = params, true
	return nil
}

// Forward solves from z0 (batch, d) over the save times ts and keeps what the
// backward pass needs.
func (o *ODE) Forward(z0 *tensors.Tensor, ts []float64) (*Trajectory, error) {
	if err := checkState("z0", z0); err != nil {
		return nil, fmt.Errorf("adjoint.Forward: %w", err)
	}
	if err := diffeq.CheckTimes("ts", ts); err != nil {
		return nil, fmt.Errorf("adjoint.Forward: %w", err)
	}
	if err := o.probe(ts[0], z0); err != nil {
		return nil, err
	}
	k := o.opts.CheckpointEvery
	solveTs := ts
	var save []int
	firstNFE := 0
	if k > 0 {
		parts := make([]int, len(ts)-1)
		if o.opts.Solver.Method == diffeq.Dopri5 {
			// A first solve tells how many steps each interval takes.
			sol, err := o.fwd.Solve(z0, ts)
			if err != nil {
				return nil, fmt.Errorf("adjoint.Forward: %w", err)
			}
			firstNFE = sol.NFE
			for i, n := range sol.StepsPerInterval {
				parts[i] = max(1, (n+k-1)/k) // 0 steps end here with Solver.Dense
			}
		} else {
			for i := range parts {
				n, err := diffeq.StepsIn(ts[i+1]-ts[i], o.opts.Solver.Dt)
				if err != nil {
					return nil, fmt.Errorf("adjoint.Forward: Solver.Dt: %w", err)
				}
				parts[i] = (n + k - 1) / k
			}
		}
		solveTs, save = grid(ts, parts)
	}
	sol, err := o.fwd.Solve(z0, solveTs)
	if err != nil {
		return nil, fmt.Errorf("adjoint.Forward: %w", err)
	}
	tr := &Trajectory{from: o, Ts: append([]float64(nil), ts...), Ys: sol.Ys, NFE: sol.NFE + firstNFE, Steps: sol.Steps,
		grid: solveTs, gridYs: sol.Ys, save: save}
	if save == nil {
		tr.save = make([]int, len(ts))
		for i := range tr.save {
			tr.save[i] = i
		}
		return tr, nil
	}
	tr.Ys = make([]*tensors.Tensor, len(ts))
	for i, j := range save {
		tr.Ys[i] = sol.Ys[j]
	}
	return tr, nil
}

// augmented returns the backward vector field of the packed augmented state
// y = [z, a, dL/dθ] (shape (1, 2·batch·d + P)) in reversed time s = −t:
// dz/ds = −f, da/ds = aᵀ∂f/∂z, d(dL/dθ)/ds = aᵀ∂f/∂θ.
func (o *ODE) augmented(batch, d int) diffeq.Func {
	n := batch * d
	return func(ctx *context.Context, s, y *Node) *Node {
		g := y.Graph()
		t := graph.Neg(s)
		z := graph.Identity(graph.StopGradient(graph.Reshape(graph.Slice(y, graph.AxisRange(), graph.AxisRange(0, n)), batch, d)))
		a := graph.StopGradient(graph.Reshape(graph.Slice(y, graph.AxisRange(), graph.AxisRange(n, 2*n)), batch, d))
		fz := o.f(ctx.Checked(false), t, z)
		wrt := append([]*Node{z}, paramNodes(g, o.params)...)
		grads := graph.Gradient(graph.ReduceAllSum(graph.Mul(fz, a)), wrt...)
		parts := []*Node{graph.Reshape(graph.Neg(fz), 1, n), graph.Reshape(grads[0], 1, n)}
		for _, gp := range grads[1:] {
			parts = append(parts, graph.Reshape(graph.ConvertDType(gp, y.DType()), 1, gp.Shape().Size()))
		}
		return graph.Concatenate(parts, 1)
	}
}

func (o *ODE) backwardSolver(batch, d int) (*diffeq.ODESolver, error) {
	key := [2]int{batch, d}
	if s, ok := o.bwd[key]; ok {
		return s, nil
	}
	s, err := diffeq.NewODESolver(o.backend, o.ctx, o.augmented(batch, d), o.opts.Solver)
	if err != nil {
		return nil, err
	}
	o.bwd[key] = s
	return s, nil
}

// Backward runs the adjoint pass for a loss L(z(ts[0]), …, z(ts[n−1])) given
// dLdYs[i] = dL/dz(ts[i]) (nil where L does not depend on z(ts[i])). It returns
// dL/dz0 and dL/dθ for the variables of Params.
func (o *ODE) Backward(tr *Trajectory, dLdYs []*tensors.Tensor) (*Gradients, error) {
	if tr == nil || len(tr.Ys) == 0 || tr.sde != nil {
		return nil, fmt.Errorf("adjoint.Backward: trajectory must come from ODE.Forward")
	}
	if tr.from != o {
		return nil, fmt.Errorf("adjoint.ODE.Backward: the trajectory was made by another solver's Forward: pass the one this ODE's Forward returned")
	}
	z0 := tr.Ys[0]
	if err := checkCotangents(dLdYs, tr.Ts, z0.Shape()); err != nil {
		return nil, err
	}
	batch, d := z0.Shape().Dimensions[0], z0.Shape().Dimensions[1]
	n := batch * d
	_, p := varSizes(o.params)
	bwd, err := o.backwardSolver(batch, d)
	if err != nil {
		return nil, fmt.Errorf("adjoint.Backward: %w", err)
	}
	dtype := z0.DType()
	y := make([]float64, 2*n+p)
	last := len(tr.grid) - 1
	saveAt := map[int]int{}
	for i, j := range tr.save {
		saveAt[j] = i
	}
	addInto(y[n:2*n], dLdYs[len(dLdYs)-1])
	nfe := 0
	h := 0.0 // Dopri5's step, carried over the jumps at the save times
	for j := last; j > 0; j-- {
		copy(y[:n], vec(tr.gridYs[j])) // reset z to the forward solution
		sol, err := bwd.SolveFirstStep(diffeq.FromFloat64s(dtype, y, 1, len(y)), []float64{-tr.grid[j], -tr.grid[j-1]}, h)
		if err != nil {
			return nil, fmt.Errorf("adjoint.Backward: backward solve from t=%g to t=%g: %w", tr.grid[j], tr.grid[j-1], err)
		}
		nfe += sol.NFE
		h = sol.NextStep
		y = vec(sol.Ys[1])
		if k := firstNonFinite(y[n:]); k >= 0 {
			part := "the adjoint state a = dL/dz"
			if k >= n {
				part = "the parameter gradient dL/dθ"
			}
			return nil, fmt.Errorf("adjoint.Backward: %s became non-finite between t=%g and t=%g", part, tr.grid[j-1], tr.grid[j])
		}
		if i, ok := saveAt[j-1]; ok {
			addInto(y[n:2*n], dLdYs[i])
		}
	}
	return &Gradients{
		Z0:     diffeq.FromFloat64s(dtype, y[n:2*n], batch, d),
		Vars:   o.params,
		Params: splitParams(y[2*n:], o.params, dtype),
		NFE:    nfe,
	}, nil
}

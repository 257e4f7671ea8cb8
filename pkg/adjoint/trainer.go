package adjoint

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/gosde/gosde/pkg/diffeq"
)

// Method chooses how a Trainer differentiates through the solve.
type Method string

// Gradient methods.
const (
	// Direct backpropagates through the solver's steps unrolled in one graph
	// (RK-Net): exact gradients of the discretised solve, memory growing with
	// the number of steps. Dopri5 first runs a host solve (no gradient) to
	// choose the steps, then differentiates a graph that takes exactly those
	// steps (step sizes held fixed, as torchdiffeq's backpropagation does),
	// with the save states from the dense output when Solver.Dense is set.
	Direct Method = "direct"
	// Adjoint is the continuous adjoint (ODEs) or the stochastic adjoint
	// (SDEs, Stratonovich): memory independent of the number of steps.
	Adjoint Method = "adjoint"
	// Checkpointed is backpropagation through the solver's steps, as
	// Direct, computed chunk by chunk: the solve runs in executables of
	// Solver.Chunk steps (default 16) whose step times and sizes are inputs,
	// and the backward pass recomputes each chunk in a vector–Jacobian
	// product, last chunk first. The gradients are Direct's; the memory
	// holds one state per chunk and the terms of the save times; the
	// executables have one shape whatever the number of steps or the step
	// plan, so they are compiled once per state shape (Direct compiles a
	// graph per plan length, unrolling every step).
	Checkpointed Method = "checkpointed"
	// Reversible is the reversible Heun solver (SDEs, or ODEs as SDEs with
	// zero diffusion) and its exact discrete adjoint: the states are
	// reconstructed backwards by the algebraic inverse of each step.
	Reversible Method = "reversible"
)

// Scopes of the model's parts in the Trainer's context.
const (
	EncoderScope  = "encoder"
	DynamicsScope = "dynamics"
	DecoderScope  = "decoder"
)

// Model is a model trained through a differential-equation solve: an
// encoder, the dynamics (an ODE or an SDE) and a loss (a decoder plus the
// loss terms). Each part builds graphs with its own context scope
// (EncoderScope, DynamicsScope, DecoderScope); contexts arrive unchecked, so
// a part may be built in several graphs.
type Model struct {
	// Encode maps the inputs to the initial state z0 (batch, d) and extra
	// nodes the loss needs (for example the mean and log-variance of
	// q(z0)). Nil: z0 is inputs[0], with no extras.
	Encode func(ctx *context.Context, inputs []*Node) (z0 *Node, extras []*Node)
	// ODE is the vector field; set exactly one of ODE and SDE.
	ODE diffeq.Func
	// SDE is the stochastic dynamics. With Adjoint it must be Stratonovich or
	// Ito with diagonal or additive noise (converted to Stratonovich).
	SDE *diffeq.SDE
	// Loss returns a scalar from the states zs[i] at the save times, the
	// inputs and the encoder's extras.
	Loss func(ctx *context.Context, zs []*Node, inputs []*Node, extras []*Node) *Node
	// BatchAxes gives, for data-parallel training (TrainerConfig.Shards >
	// 1), the batch axis of each input (−1: the input is shared by every
	// shard). SDE Brownian paths are drawn for the whole batch, so a sharded
	// step sees the same noise as an unsharded one.
	BatchAxes []int
	// Weight returns a shard's weight in the combined loss and gradients
	// (nil: its number of batch rows). The whole batch's loss must be the
	// weighted mean Σ Weight(shard)·Loss(shard) / Σ Weight(shard): a mean
	// over rows, or over observed points with Weight counting them.
	Weight func(inputs []*tensors.Tensor) float64
}

// TrainerConfig configures a Trainer.
type TrainerConfig struct {
	// Method is Direct, Adjoint (default) or Reversible.
	Method Method
	// Solver is the ODE or SDE solver configuration. For SDEs only Method,
	// Dt (required) and Chunk are used.
	Solver diffeq.Options
	// Substeps (Direct, fixed-step ODE methods), if > 0, takes that many
	// equal steps in every interval between save times instead of steps of
	// at most Solver.Dt.
	Substeps int
	// Optimizer updates the weights; it must implement
	// train.OptimizeWithGradients (SGD and Adam do). Default Adam.
	Optimizer optimizers.Interface
	// CheckpointEvery: see Options.CheckpointEvery.
	CheckpointEvery int
	// Seed is the seed of the SDE's Brownian motion; training step k uses
	// Seed + k, so every step sees a new path and runs are reproducible.
	Seed uint64
	// ReusePlan (Direct with Dopri5), if > 0, lets up to that many
	// training steps after a host solve reuse its steps instead of solving
	// again: the graph then also computes every step's Dopri5 error ratio for
	// the current weights and inputs, and if one exceeds 1 (a step no longer
	// meets the tolerance) the result is discarded and the step re-planned.
	// Every step taken meets the tolerance, as with a fresh plan, but the
	// steps are those chosen for earlier weights: not larger than needed
	// when the dynamics get harder, possibly smaller when they get easier.
	// It saves the host solve, about a quarter of a direct step's work.
	// 0: plan every step.
	ReusePlan int
	// Shards, if > 1, splits each batch into that many row blocks whose
	// losses and gradients are computed concurrently, each by its own copy
	// of the executables (see Model.BatchAxes and Model.Weight): the pure-Go
	// backend runs one operation at a time, so this is how a step uses
	// several cores there. With Direct and Dopri5 each block takes its own
	// steps. Eval is not sharded.
	Shards int
}

// Trainer trains a Model's weights, held in a GoMLX context, with one of the
// gradient methods. It is not safe for concurrent use.
type Trainer struct {
	backend backends.Backend
	ctx     *context.Context
	model   Model
	cfg     TrainerConfig
	opt     train.OptimizeWithGradients

	ode     *ODE
	sde     *SDE
	chunked *chunked // Checkpointed

	enc, encVJP, loss, update *context.Exec
	direct                    map[string]*context.Exec

	nIn, nZ, nEx int
	vars         []*context.Variable
	steps        int
	nfe          diffeq.NFE

	// Direct with Dopri5: the last step plan, reused by ReusePlan.
	plan      *diffeq.StepPlan
	planTs    []float64
	planDType dtypes.DType
	planUses  int

	shards     []*Trainer // data-parallel copies (TrainerConfig.Shards)
	shardsWarm bool
	rows       [3]int // as a shard: its rows [lo, hi) of a batch of rows[2]
}

// NewTrainer returns a Trainer of m with weights in ctx.
func NewTrainer(b backends.Backend, ctx *context.Context, m Model, cfg TrainerConfig) (*Trainer, error) {
	if b == nil {
		return nil, fmt.Errorf("adjoint.NewTrainer: backend is nil")
	}
	if ctx == nil {
		ctx = context.New()
	}
	if (m.ODE == nil) == (m.SDE == nil) {
		return nil, fmt.Errorf("adjoint.NewTrainer: set exactly one of Model.ODE and Model.SDE")
	}
	if m.Loss == nil {
		return nil, fmt.Errorf("adjoint.NewTrainer: Model.Loss is nil")
	}
	cfg.Method = cmp.Or(cfg.Method, Adjoint)
	switch cfg.Method {
	case Direct, Adjoint:
	case Checkpointed:
	case Reversible:
		if m.SDE == nil {
			return nil, fmt.Errorf("adjoint.NewTrainer: Method %q needs Model.SDE (write an ODE as an SDE with zero diffusion)", cfg.Method)
		}
	default:
		return nil, fmt.Errorf("adjoint.NewTrainer: TrainerConfig.Method %q unknown (direct, checkpointed, adjoint, reversible)", cfg.Method)
	}
	if cfg.Optimizer == nil {
		cfg.Optimizer = optimizers.Adam().Done()
	}
	opt, ok := cfg.Optimizer.(train.OptimizeWithGradients)
	if !ok {
		return nil, fmt.Errorf("adjoint.NewTrainer: optimizer %T does not implement train.OptimizeWithGradients", cfg.Optimizer)
	}
	ctx = ctx.Checked(false)
	t := &Trainer{backend: b, ctx: ctx, model: m, cfg: cfg, opt: opt, direct: map[string]*context.Exec{}}
	dyn := ctx.In(DynamicsScope)
	var err error
	if m.ODE != nil {
		t.ode, err = NewODE(b, dyn, m.ODE, Options{Solver: cfg.Solver, CheckpointEvery: cfg.CheckpointEvery})
	} else {
		method := cfg.Solver.Method
		if cfg.Method == Reversible {
			method = diffeq.ReversibleHeun
		}
		t.sde, err = NewSDE(b, dyn, *m.SDE, SDEOptions{Method: method, Dt: cfg.Solver.Dt, CheckpointEvery: cfg.CheckpointEvery, Chunk: cfg.Solver.Chunk})
	}
	if err != nil {
		return nil, fmt.Errorf("adjoint.NewTrainer: %w", err)
	}
	if t.enc, err = context.NewExec(b, ctx, t.encodeGraph); err != nil {
		return nil, err
	}
	if cfg.Method == Checkpointed {
		if t.chunked, err = newChunked(t); err != nil {
			return nil, err
		}
	}
	if t.encVJP, err = context.NewExec(b, ctx, t.encodeVJPGraph); err != nil {
		return nil, err
	}
	if t.loss, err = context.NewExec(b, ctx, t.lossGraph); err != nil {
		return nil, err
	}
	t.loss.SetMaxCache(-1) // one graph per number of save times
	if t.update, err = context.NewExec(b, ctx, t.updateGraph); err != nil {
		return nil, err
	}
	if cfg.Shards < 0 || cfg.ReusePlan < 0 || cfg.Substeps < 0 {
		return nil, fmt.Errorf("adjoint.NewTrainer: TrainerConfig.Shards, ReusePlan and Substeps must be ≥ 0, got %d, %d and %d", cfg.Shards, cfg.ReusePlan, cfg.Substeps)
	}
	if cfg.Shards > 1 {
		if err := t.newShards(); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// NFE returns the vector-field evaluations of the last Step, Gradients or
// Eval (for Direct: the unrolled solve's evaluations as Forward; its
// backward is autodiff). With shards: the largest count over the shards.
func (t *Trainer) NFE() diffeq.NFE { return t.nfe }

// Vars returns the trainable variables the model uses, in context order
// (known after the first Step or Gradients).
func (t *Trainer) Vars() []*context.Variable { return t.vars }

// StepCount returns the number of Steps taken.
func (t *Trainer) StepCount() int { return t.steps }

func (t *Trainer) encode(ctx *context.Context, in []*Node) (*Node, []*Node) {
	if t.model.Encode == nil {
		return in[0], nil
	}
	z0, extras := t.model.Encode(ctx.In(EncoderScope), in)
	if z0 == nil {
		panic(fmt.Errorf("adjoint: Model.Encode returned a nil z0"))
	}
	if z0.Rank() != 2 {
		panic(fmt.Errorf("adjoint: Model.Encode must return z0 shaped (batch, d), got %s", z0.Shape()))
	}
	return z0, extras
}

func (t *Trainer) encodeGraph(ctx *context.Context, in []*Node) []*Node {
	z0, extras := t.encode(ctx, in)
	return append([]*Node{z0}, extras...)
}

// encodeVJPGraph: inputs, dL/dz0, dL/dextras → encoder weight gradients.
func (t *Trainer) encodeVJPGraph(ctx *context.Context, in []*Node) []*Node {
	inputs, cot := in[:t.nIn], in[t.nIn:]
	z0, extras := t.encode(ctx, inputs)
	outs := append([]*Node{z0}, extras...)
	var s *Node
	for i, o := range outs {
		term := graph.ReduceAllSum(graph.Mul(o, graph.ConvertDType(cot[i], o.DType())))
		if s == nil {
			s = term
		} else {
			s = graph.Add(s, graph.ConvertDType(term, s.DType()))
		}
	}
	g := s.Graph()
	vars := usedTrainable(ctx, g)
	if len(vars) == 0 {
		return []*Node{graph.ScalarZero(g, s.DType())}
	}
	return graph.Gradient(s, paramNodes(g, vars)...)
}

// lossGraph: inputs, zs, extras → loss, dL/dzs, dL/dextras, dL/dθ(decoder).
func (t *Trainer) lossGraph(ctx *context.Context, in []*Node) []*Node {
	inputs, zs, extras := in[:t.nIn], in[t.nIn:t.nIn+t.nZ], in[t.nIn+t.nZ:]
	loss := t.model.Loss(ctx.In(DecoderScope), zs, inputs, extras)
	if loss == nil || !loss.Shape().IsScalar() {
		panic(fmt.Errorf("adjoint: Model.Loss must return a scalar, got %v", shapeStr(loss)))
	}
	g := loss.Graph()
	wrt := append(append([]*Node{}, zs...), extras...)
	wrt = append(wrt, paramNodes(g, usedTrainable(ctx, g))...)
	return append([]*Node{loss}, graph.Gradient(loss, wrt...)...)
}

func shapeStr(n *Node) string {
	if n == nil {
		return "nil"
	}
	return n.Shape().String()
}

// updateGraph applies the optimizer with the given gradients of t.vars.
func (t *Trainer) updateGraph(ctx *context.Context, grads []*Node) *Node {
	g := grads[0].Graph()
	for _, v := range t.vars {
		v.ValueGraph(g)
	}
	t.opt.UpdateGraphWithGradients(ctx, grads, grads[0].DType())
	return graph.ScalarZero(g, grads[0].DType())
}

// Gradients returns the loss and dL/dθ for every variable of Vars (in that
// order), without updating the weights.
func (t *Trainer) Gradients(inputs []*tensors.Tensor, ts []float64) (loss float64, grads []*tensors.Tensor, err error) {
	if len(t.shards) > 1 {
		return t.shardedGradients(inputs, ts)
	}
	switch t.cfg.Method {
	case Direct:
		return t.directGradients(inputs, ts)
	case Checkpointed:
		return t.chunked.gradients(inputs, ts)
	}
	loss, acc, _, err := t.adjointPass(inputs, ts, true)
	if err != nil {
		return 0, nil, err
	}
	return loss, t.collect(acc), nil
}

// Step computes the gradients of one batch and applies the optimizer. It
// returns the loss before the update.
func (t *Trainer) Step(inputs []*tensors.Tensor, ts []float64) (float64, error) {
	loss, grads, err := t.Gradients(inputs, ts)
	if err != nil {
		return 0, err
	}
	if len(grads) == 0 {
		return 0, fmt.Errorf("adjoint.Trainer.Step: the model has no trainable variables")
	}
	if _, err := t.update.Exec(anys(grads)...); err != nil {
		return 0, fmt.Errorf("adjoint.Trainer.Step: optimizer update: %w", err)
	}
	t.steps++
	return loss, nil
}

// Eval runs the model forward (no gradients) and returns the loss and the
// states at the save times.
func (t *Trainer) Eval(inputs []*tensors.Tensor, ts []float64) (loss float64, zs []*tensors.Tensor, err error) {
	loss, _, zs, err = t.adjointPass(inputs, ts, false)
	return
}

func anys(ts []*tensors.Tensor) []any {
	out := make([]any, len(ts))
	for i, x := range ts {
		out[i] = x
	}
	return out
}

func (t *Trainer) checkInputs(inputs []*tensors.Tensor, ts []float64) error {
	if len(inputs) == 0 && t.model.Encode == nil {
		return fmt.Errorf("adjoint.Trainer: with no Model.Encode, inputs[0] must be z0")
	}
	for i, x := range inputs {
		if x == nil {
			return fmt.Errorf("adjoint.Trainer: inputs[%d] is nil", i)
		}
	}
	return diffeq.CheckTimes("ts", ts)
}

// forward runs the encoder and the host solve.
func (t *Trainer) forward(inputs []*tensors.Tensor, ts []float64) (z0 *tensors.Tensor, extras []*tensors.Tensor, tr *Trajectory, err error) {
	if err := t.checkInputs(inputs, ts); err != nil {
		return nil, nil, nil, err
	}
	t.nIn = len(inputs)
	out, err := t.enc.Exec(anys(inputs)...)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("adjoint.Trainer: encoder: %w", err)
	}
	z0, extras = out[0], out[1:]
	if t.ode != nil {
		tr, err = t.ode.Forward(z0, ts)
	} else {
		var bm *diffeq.Brownian
		bm, err = t.brownian(z0, ts)
		if err == nil {
			tr, err = t.sde.Forward(z0, ts, bm)
		}
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("adjoint.Trainer: forward solve: %w", err)
	}
	return z0, extras, tr, nil
}

// brownian returns the Brownian path of the current step.
func (t *Trainer) brownian(z0 *tensors.Tensor, ts []float64) (*diffeq.Brownian, error) {
	dt := t.cfg.Solver.Dt
	if !(dt > 0) {
		return nil, fmt.Errorf("adjoint.Trainer: SDE models need TrainerConfig.Solver.Dt > 0, got %g", dt)
	}
	batch, d := z0.Shape().Dimensions[0], z0.Shape().Dimensions[1]
	if lo, hi, full := t.rows[0], t.rows[1], t.rows[2]; full > 0 {
		// A shard: its rows of the whole batch's Brownian motion.
		if hi-lo != batch {
			return nil, fmt.Errorf("adjoint.Trainer: shard of %d rows got z0 with %d", hi-lo, batch)
		}
		bm, err := diffeq.NewBrownian(t.cfg.Seed+uint64(t.steps), ts[0], ts[len(ts)-1], dt, full, t.model.SDE.NoiseSize(d), z0.DType())
		if err != nil {
			return nil, err
		}
		return bm.Rows(lo, hi)
	}
	return diffeq.NewBrownian(t.cfg.Seed+uint64(t.steps), ts[0], ts[len(ts)-1], dt, batch, t.model.SDE.NoiseSize(d), z0.DType())
}

// gradAcc accumulates gradients per variable.
type gradAcc map[*context.Variable][]float64

func (a gradAcc) add(vars []*context.Variable, grads []*tensors.Tensor) {
	for i, v := range vars {
		g := vec(grads[i])
		if acc, ok := a[v]; ok {
			for j := range acc {
				acc[j] += g[j]
			}
		} else {
			a[v] = g
		}
	}
}

// collect orders the accumulated gradients as t.vars (all trainable
// variables used by any part, context order), zeros where a part had none.
func (t *Trainer) collect(acc gradAcc) []*tensors.Tensor {
	t.vars = nil
	for v := range t.ctx.IterVariables() {
		if _, ok := acc[v]; ok {
			t.vars = append(t.vars, v)
		}
	}
	out := make([]*tensors.Tensor, len(t.vars))
	for i, v := range t.vars {
		out[i] = diffeq.FromFloat64s(v.DType(), acc[v], v.Shape().Dimensions...)
	}
	return out
}

// adjointPass runs encoder → host solve → loss (→ backward → encoder VJP).
func (t *Trainer) adjointPass(inputs []*tensors.Tensor, ts []float64, withGrad bool) (float64, gradAcc, []*tensors.Tensor, error) {
	t.nfe = diffeq.NFE{}
	_, extras, tr, err := t.forward(inputs, ts)
	if err != nil {
		return 0, nil, nil, err
	}
	t.nfe.Forward = tr.NFE
	t.nZ, t.nEx = len(tr.Ys), len(extras)
	args := append(append(append([]*tensors.Tensor{}, inputs...), tr.Ys...), extras...)
	out, g, err := t.loss.ExecWithGraph(anys(args)...)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("adjoint.Trainer: loss: %w", err)
	}
	lossV := vec(out[0])[0]
	if !withGrad {
		return lossV, nil, tr.Ys, nil
	}
	if math.IsNaN(lossV) || math.IsInf(lossV, 0) {
		return 0, nil, nil, fmt.Errorf("adjoint.Trainer: the loss is not finite (%g)", lossV)
	}
	dZs, dEx, dDec := out[1:1+t.nZ], out[1+t.nZ:1+t.nZ+t.nEx], out[1+t.nZ+t.nEx:]
	acc := gradAcc{}
	acc.add(usedTrainable(t.ctx, g), dDec)
	var grads *Gradients
	if t.ode != nil {
		grads, err = t.ode.Backward(tr, dZs)
	} else {
		grads, err = t.sde.Backward(tr, dZs)
	}
	if err != nil {
		return 0, nil, nil, fmt.Errorf("adjoint.Trainer: %w", err)
	}
	t.nfe.Backward = grads.NFE
	acc.add(grads.Vars, grads.Params)
	if t.model.Encode != nil {
		cot := append([]*tensors.Tensor{grads.Z0}, dEx...)
		encOut, g, err := t.encVJP.ExecWithGraph(anys(append(append([]*tensors.Tensor{}, inputs...), cot...))...)
		if err != nil {
			return 0, nil, nil, fmt.Errorf("adjoint.Trainer: encoder gradient: %w", err)
		}
		if vars := usedTrainable(t.ctx, g); len(vars) > 0 {
			acc.add(vars, encOut)
		}
	}
	return lossV, acc, tr.Ys, nil
}

// directGradients differentiates the unrolled solve in one graph.
func (t *Trainer) directGradients(inputs []*tensors.Tensor, ts []float64) (float64, []*tensors.Tensor, error) {
	t.nfe = diffeq.NFE{}
	if err := t.checkInputs(inputs, ts); err != nil {
		return 0, nil, err
	}
	t.nIn = len(inputs)
	args := append([]*tensors.Tensor{}, inputs...)
	var key string
	var build func(ctx *context.Context, in []*Node) []*Node
	checked, reused := false, false
	if t.ode != nil && t.ode.opts.Solver.Method == diffeq.Dopri5 {
		plan, hostNFE, dtype := t.plan, 0, t.planDType
		reused = t.cfg.ReusePlan > 0 && plan != nil && t.planUses < t.cfg.ReusePlan && slices.Equal(t.planTs, ts)
		if !reused {
			var err error
			if plan, hostNFE, dtype, err = t.odePlan(inputs, ts); err != nil {
				return 0, nil, err
			}
			t.plan, t.planTs, t.planDType, t.planUses = plan, slices.Clone(ts), dtype, 0
		}
		checked = t.cfg.ReusePlan > 0
		n := diffeq.PaddedLen(plan.Len())
		steps, weights, err := plan.Inputs(dtype, n)
		if err != nil {
			return 0, nil, fmt.Errorf("adjoint.Trainer: %w", err)
		}
		key = fmt.Sprintf("dopri5/%d/%v", n, checked)
		t.nfe.Forward = hostNFE + 1 + 6*n
		args = append(args, steps, weights)
		build = func(ctx *context.Context, in []*Node) []*Node {
			z0, extras := t.encode(ctx, in[:t.nIn])
			dyn := ctx.In(DynamicsScope)
			if !checked {
				zs, err := diffeq.IntegratePlan(dyn, t.model.ODE, z0, in[t.nIn], in[t.nIn+1])
				if err != nil {
					panic(err)
				}
				return t.directTail(ctx, zs, in[:t.nIn], extras)
			}
			zs, ratio, err := diffeq.IntegratePlanChecked(dyn, t.model.ODE, z0, in[t.nIn], in[t.nIn+1], t.ode.opts.Solver)
			if err != nil {
				panic(err)
			}
			return append(t.directTail(ctx, zs, in[:t.nIn], extras), ratio)
		}
	} else if t.ode != nil {
		substeps, err := t.odeSubsteps(ts)
		if err != nil {
			return 0, nil, err
		}
		key = fmt.Sprintf("ode/%d", substeps)
		method := t.ode.opts.Solver.Method
		t.nfe.Forward = substeps * (len(ts) - 1) * method.NFEPerStep()
		args = append(args, tensors.FromValue(append([]float64(nil), ts...)))
		build = func(ctx *context.Context, in []*Node) []*Node {
			z0, extras := t.encode(ctx, in[:t.nIn])
			zs, err := diffeq.Integrate(ctx.In(DynamicsScope), method, t.model.ODE, z0, in[t.nIn], substeps)
			if err != nil {
				panic(err)
			}
			return t.directTail(ctx, zs, in[:t.nIn], extras)
		}
	} else {
		out, err := t.enc.Exec(anys(inputs)...)
		if err != nil {
			return 0, nil, fmt.Errorf("adjoint.Trainer: encoder: %w", err)
		}
		bm, err := t.brownian(out[0], ts)
		if err != nil {
			return 0, nil, err
		}
		g, _, err := diffeq.SDEGrid(ts, t.cfg.Solver.Dt)
		if err != nil {
			return 0, nil, fmt.Errorf("adjoint.Trainer: %w", err)
		}
		key = fmt.Sprintf("sde/%v", g)
		t.nfe.Forward = (len(g) - 1) * diffeq.SDENFEPerStep(t.sde.method)
		args = append(args, bm.Increments(g))
		build = func(ctx *context.Context, in []*Node) []*Node {
			z0, extras := t.encode(ctx, in[:t.nIn])
			form := must(solvedForm(t.sde.sde, t.sde.method))
			zs, err := diffeq.IntegrateSDE(ctx.In(DynamicsScope), form, t.sde.method, z0, ts, t.cfg.Solver.Dt, in[t.nIn])
			if err != nil {
				panic(err)
			}
			return t.directTail(ctx, zs, in[:t.nIn], extras)
		}
	}
	e, ok := t.direct[key]
	if !ok {
		var err error
		if e, err = context.NewExec(t.backend, t.ctx, build); err != nil {
			return 0, nil, err
		}
		// One graph per number of save times: as many as the data has.
		e.SetMaxCache(-1)
		t.direct[key] = e
	}
	out, g, err := e.ExecWithGraph(anys(args)...)
	if err != nil {
		return 0, nil, fmt.Errorf("adjoint.Trainer: direct gradient: %w", err)
	}
	if checked {
		ratio := vec(out[len(out)-1])[0]
		out = out[:len(out)-1]
		if reused && !(ratio <= 1) {
			// The reused steps no longer meet the tolerance: plan afresh.
			t.plan = nil
			return t.directGradients(inputs, ts)
		}
		if reused {
			t.planUses++
		}
	}
	lossV := vec(out[0])[0]
	if math.IsNaN(lossV) || math.IsInf(lossV, 0) {
		return 0, nil, fmt.Errorf("adjoint.Trainer: the loss is not finite (%g)", lossV)
	}
	t.vars = usedTrainable(t.ctx, g)
	return lossV, out[1:], nil
}

func (t *Trainer) directTail(ctx *context.Context, zs, inputs, extras []*Node) []*Node {
	loss := t.model.Loss(ctx.In(DecoderScope), zs, inputs, extras)
	if loss == nil || !loss.Shape().IsScalar() {
		panic(fmt.Errorf("adjoint: Model.Loss must return a scalar, got %v", shapeStr(loss)))
	}
	g := loss.Graph()
	return append([]*Node{loss}, graph.Gradient(loss, paramNodes(g, usedTrainable(ctx, g))...)...)
}

// odeSubsteps returns the substeps per interval of the direct ODE graph of
// a fixed-step method.
func (t *Trainer) odeSubsteps(ts []float64) (int, error) {
	if t.cfg.Substeps > 0 {
		return t.cfg.Substeps, nil
	}
	n := 1
	for i := 1; i < len(ts); i++ {
		k, err := diffeq.StepsIn(ts[i]-ts[i-1], t.ode.opts.Solver.Dt)
		if err != nil {
			return 0, fmt.Errorf("adjoint.Trainer: Solver.Dt: %w", err)
		}
		n = max(n, k)
	}
	return n, nil
}

// odePlan runs the encoder and a host Dopri5 solve (no gradients) and
// returns its steps as a plan for the direct graph, the solve's NFE and the
// state's dtype.
func (t *Trainer) odePlan(inputs []*tensors.Tensor, ts []float64) (*diffeq.StepPlan, int, dtypes.DType, error) {
	out, err := t.enc.Exec(anys(inputs)...)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("adjoint.Trainer: encoder: %w", err)
	}
	if err := t.ode.probe(ts[0], out[0]); err != nil {
		return nil, 0, 0, err
	}
	stepTimes, nfe, err := t.ode.fwd.StepTimes(out[0], ts)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("adjoint.Trainer: choosing the Dopri5 steps: %w", err)
	}
	plan, err := diffeq.NewStepPlan(stepTimes, ts)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("adjoint.Trainer: %w", err)
	}
	return plan, nfe, out[0].DType(), nil
}

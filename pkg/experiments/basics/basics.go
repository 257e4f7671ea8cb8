package basics

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
	"gonum.org/v1/plot"

	"github.com/gosde/gosde/pkg/adjoint"
	"github.com/gosde/gosde/pkg/diffeq"
	"github.com/gosde/gosde/pkg/nn"
	"github.com/gosde/gosde/pkg/plotting"
)

// Model names the learned vector field.
type Model string

// Models.
const (
	Linear Model = "linear" // dz/dt = A z with a learned 2×2 matrix A
	MLP    Model = "mlp"    // dz/dt = MLP(z), ELU activations
)

// Config configures Run. Zero fields take the defaults given.
type Config struct {
	// System is the true dynamics (default LinearSpiral).
	System System
	// Model is the learned field (default Linear for the "linear" system,
	// MLP otherwise).
	Model Model
	// Hidden are the MLP's hidden sizes (default 16, 16: a 2-16-16-2 MLP).
	Hidden []int
	// Points, TMax and NoiseStd describe the data: Points observations on
	// [0, TMax] with Gaussian noise (defaults 200, 6.29·5, 0.01).
	Points   int
	TMax     float64
	NoiseStd float64
	// Steps is the number of training steps (default 500 for Linear, 3000
	// for MLP); LR is Adam's learning rate (default 0.01).
	Steps int
	LR    float64
	// Each step fits one random sub-span: length U(MinSpan, MaxSpan)
	// (defaults 1 and 5) with up to MaxPoints observations (default 32).
	MinSpan, MaxSpan float64
	MaxPoints        int
	// Method and Substeps choose the in-graph solver: Substeps equal steps
	// per interval between observations (defaults RK4 and 1).
	Method   diffeq.Method
	Substeps int
	// Seed seeds the data, the initial weights and the sub-spans.
	Seed uint64
	// DType of the model (default Float32).
	DType dtypes.DType
	// PlotEvery > 0 calls OnPlot every PlotEvery steps (and after the last)
	// with a figure of the observations and the current learned trajectory.
	PlotEvery int
	OnPlot    func(step int, fig *plot.Plot)
	// OnStep, if set, is called after every step with the step's loss.
	OnStep func(step int, loss float64)
}

func (c Config) withDefaults() Config {
	if c.System.F == nil {
		c.System = LinearSpiral()
	}
	if c.Model == "" {
		c.Model = MLP
		if c.System.Name == "linear" {
			c.Model = Linear
		}
	}
	if len(c.Hidden) == 0 {
		c.Hidden = []int{16, 16}
	}
	c.Points = cmp.Or(c.Points, 200)
	c.TMax = cmp.Or(c.TMax, 6.29*5)
	c.NoiseStd = cmp.Or(c.NoiseStd, 0.01)
	if c.Steps == 0 {
		c.Steps = 500
		if c.Model == MLP {
			c.Steps = 3000
		}
	}
	c.LR = cmp.Or(c.LR, 0.01)
	c.MinSpan = cmp.Or(c.MinSpan, 1)
	c.MaxSpan = cmp.Or(c.MaxSpan, 5)
	c.MaxPoints = cmp.Or(c.MaxPoints, 32)
	c.Method = cmp.Or(c.Method, diffeq.RK4)
	c.Substeps = cmp.Or(c.Substeps, 1)
	c.DType = cmp.Or(c.DType, dtypes.Float32)
	return c
}

func (c Config) validate() error {
	switch {
	case c.Model != Linear && c.Model != MLP:
		return fmt.Errorf("basics: Config.Model must be %q or %q, got %q", Linear, MLP, c.Model)
	case c.Steps < 0:
		return fmt.Errorf("basics: Config.Steps must be ≥ 0, got %d", c.Steps)
	case !(c.LR > 0) || math.IsInf(c.LR, 0):
		return fmt.Errorf("basics: Config.LR must be finite and > 0, got %g", c.LR)
	case !(c.MinSpan > 0 && c.MaxSpan >= c.MinSpan && c.MaxSpan < c.TMax):
		return fmt.Errorf("basics: need 0 < Config.MinSpan ≤ MaxSpan < TMax, got %g, %g, %g", c.MinSpan, c.MaxSpan, c.TMax)
	case c.MaxPoints < 2:
		return fmt.Errorf("basics: Config.MaxPoints must be ≥ 2, got %d", c.MaxPoints)
	case c.Substeps < 1:
		return fmt.Errorf("basics: Config.Substeps must be ≥ 1, got %d", c.Substeps)
	case c.DType != dtypes.Float32 && c.DType != dtypes.Float64:
		return fmt.Errorf("basics: Config.DType must be Float32 or Float64, got %s", c.DType)
	}
	for i, h := range c.Hidden {
		if h < 1 {
			return fmt.Errorf("basics: Config.Hidden[%d] must be ≥ 1, got %d", i, h)
		}
	}
	return nil
}

// Result is the outcome of Run.
type Result struct {
	Config Config
	Data   *Data
	// Pred is the learned trajectory from Data's first clean state at
	// Data.Ts, flat (x, y pairs).
	Pred []float64
	// Losses are the training losses (MSE per coordinate), one per step.
	Losses []float64
	// A is the learned matrix (row-major) of a Linear model.
	A [4]float64
	// TrajRMSE is the root-mean-square distance between Pred and the
	// noise-free trajectory over all points (per coordinate).
	TrajRMSE float64
	// Duration is the wall time of Run.
	Duration time.Duration
}

// Learner is a learned 2-D vector field with its weights, training step and
// trajectory prediction compiled for a backend.
type Learner struct {
	cfg     Config
	ctx     *context.Context
	trainer *adjoint.Trainer
	predict *context.Exec
}

// field returns the learned vector field.
func (l *Learner) field() diffeq.Func {
	cfg := l.cfg
	return func(ctx *context.Context, _, z *graph.Node) *graph.Node {
		// Unchecked, as the solver passes it: the first call creates the weights.
		ctx = ctx.In("field").Checked(false)
		if cfg.Model == Linear {
			a := ctx.VariableWithShape("A", shapes.Make(z.DType(), 2, 2)).ValueGraph(z.Graph())
			return graph.Dot(z, graph.Transpose(a, 0, 1)) // (batch, 2)·Aᵀ
		}
		return ELUMLP(ctx, z, cfg.Hidden, 2)
	}
}

// NewLearner builds the model of cfg (defaults applied) on backend b.
func NewLearner(b backends.Backend, cfg Config) (*Learner, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if b == nil {
		return nil, fmt.Errorf("basics: backend is nil")
	}
	ctx := context.New()
	if err := ctx.SetRNGStateFromSeed(int64(cfg.Seed) + 1); err != nil {
		return nil, fmt.Errorf("basics: seeding: %w", err)
	}
	if cfg.Model == Linear {
		// A random start: entries N(0, 1)/2, as in the reference.
		ctx = ctx.WithInitializer(initializers.RandomNormalFn(ctx, 0.5))
	} else {
		ctx = ctx.WithInitializer(initializers.GlorotUniformFn(ctx))
	}
	l := &Learner{cfg: cfg, ctx: ctx}
	f := l.field()
	// Training runs through the one Trainer (backprop through the solver's
	// steps): the state at the first observation is the input, the loss the
	// mean squared error at the observation times.
	model := adjoint.Model{
		ODE: f,
		Loss: func(_ *context.Context, zs []*graph.Node, inputs []*graph.Node, _ []*graph.Node) *graph.Node {
			pred := graph.Concatenate(zs, 0) // (n, 2) for z0 shaped (1, 2)
			return graph.ReduceAllMean(graph.Square(graph.Sub(pred, inputs[1])))
		},
	}
	var err error
	l.trainer, err = adjoint.NewTrainer(b, ctx, model, adjoint.TrainerConfig{
		Method:    adjoint.Direct,
		Solver:    diffeq.Options{Method: cfg.Method},
		Substeps:  cfg.Substeps,
		Optimizer: optimizers.Adam().LearningRate(cfg.LR).Done(),
	})
	if err != nil {
		return nil, fmt.Errorf("basics: %w", err)
	}
	l.predict, err = context.NewExec(b, ctx, func(ctx *context.Context, z0, ts *graph.Node) *graph.Node {
		zs, err := diffeq.Integrate(ctx.In(adjoint.DynamicsScope), cfg.Method, f, z0, ts, cfg.Substeps)
		if err != nil {
			panic(err)
		}
		return graph.Concatenate(zs, 0)
	})
	if err != nil {
		return nil, fmt.Errorf("basics: building the predictor: %w", err)
	}
	return l, nil
}

// Step takes one Adam step on the observations obs (flat x, y pairs) at
// times ts, predicting from obs' first point, and returns the MSE loss.
func (l *Learner) Step(ts, obs []float64) (float64, error) {
	loss, err := l.trainer.Step([]*tensors.Tensor{
		diffeq.FromFloat64s(l.cfg.DType, obs[:2], 1, 2),
		diffeq.FromFloat64s(l.cfg.DType, obs, len(ts), 2)}, ts)
	if err != nil {
		return 0, fmt.Errorf("basics: training step: %w", err)
	}
	return loss, nil
}

// Predict returns the learned trajectory from z0 at times ts, flat.
func (l *Learner) Predict(z0 [2]float64, ts []float64) ([]float64, error) {
	out, err := l.predict.Exec(diffeq.FromFloat64s(l.cfg.DType, z0[:], 1, 2), diffeq.FromFloat64s(l.cfg.DType, ts, len(ts)))
	if err != nil {
		return nil, fmt.Errorf("basics: predicting: %w", err)
	}
	return diffeq.Float64s(out[0])
}

// Matrix returns the learned matrix of a Linear model (row-major).
func (l *Learner) Matrix() ([4]float64, error) {
	var a [4]float64
	v := l.ctx.In(adjoint.DynamicsScope).In("field").GetVariable("A")
	if v == nil {
		return a, fmt.Errorf("basics: the model has no matrix (model %q, or not run yet)", l.cfg.Model)
	}
	t, err := v.Value()
	if err != nil {
		return a, fmt.Errorf("basics: reading A: %w", err)
	}
	vals, err := diffeq.Float64s(t)
	if err != nil {
		return a, err
	}
	copy(a[:], vals)
	return a, nil
}

// Run generates cfg's data, trains the model on random sub-spans and
// returns the learned trajectory and its error.
func Run(b backends.Backend, cfg Config) (*Result, error) {
	start := time.Now()
	l, err := NewLearner(b, cfg)
	if err != nil {
		return nil, err
	}
	cfg = l.cfg
	data, err := cfg.System.Observe(cfg.Points, cfg.TMax, cfg.NoiseStd, cfg.Seed)
	if err != nil {
		return nil, err
	}
	res := &Result{Config: cfg, Data: data}
	z0 := [2]float64{data.Clean[0], data.Clean[1]}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5ab5))
	plotNow := func(step int) error {
		pred, err := l.Predict(z0, data.Ts)
		if err != nil {
			return err
		}
		fig, err := TrajectoryPlot(fmt.Sprintf("%s field, %s model, step %d", cfg.System.Name, cfg.Model, step), data, pred)
		if err != nil {
			return err
		}
		cfg.OnPlot(step, fig)
		return nil
	}
	for step := 1; step <= cfg.Steps; step++ {
		idx := data.SubSpan(rng, cfg.MinSpan, cfg.MaxSpan, cfg.MaxPoints)
		ts := make([]float64, len(idx))
		obs := make([]float64, 2*len(idx))
		for k, j := range idx {
			ts[k] = data.Ts[j]
			obs[2*k], obs[2*k+1] = data.Obs[2*j], data.Obs[2*j+1]
		}
		loss, err := l.Step(ts, obs)
		if err != nil {
			return nil, fmt.Errorf("step %d: %w", step, err)
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return nil, fmt.Errorf("basics: loss is %g at step %d (try a smaller Config.LR)", loss, step)
		}
		res.Losses = append(res.Losses, loss)
		if cfg.OnStep != nil {
			cfg.OnStep(step, loss)
		}
		if cfg.PlotEvery > 0 && cfg.OnPlot != nil && (step%cfg.PlotEvery == 0 || step == cfg.Steps) {
			if err := plotNow(step); err != nil {
				return nil, err
			}
		}
	}
	res.Pred, err = l.Predict(z0, data.Ts)
	if err != nil {
		return nil, err
	}
	var s2 float64
	for i, v := range res.Pred {
		d := v - data.Clean[i]
		s2 += d * d
	}
	res.TrajRMSE = math.Sqrt(s2 / float64(len(res.Pred)))
	if cfg.Model == Linear {
		if res.A, err = l.Matrix(); err != nil {
			return nil, err
		}
	}
	res.Duration = time.Since(start)
	return res, nil
}

// TrajectoryPlot draws the observations coloured by time, the true
// noise-free trajectory (dashed) and a learned trajectory pred (flat x, y
// pairs at d.Ts; nil to omit).
func TrajectoryPlot(title string, d *Data, pred []float64) (*plot.Plot, error) {
	xs, ys := split(d.Obs)
	cx, cy := split(d.Clean)
	curves := []plotting.Series{{Label: "true", Xs: cx, Ys: cy, Dashed: true}}
	if pred != nil {
		px, py := split(pred)
		curves = append(curves, plotting.Series{Label: "learned", Xs: px, Ys: py})
	}
	return plotting.TrajectoryByTime(title, d.Ts, xs, ys, curves...)
}

// split returns the x and y coordinates of flat (x, y) pairs.
func split(v []float64) (xs, ys []float64) {
	xs, ys = make([]float64, len(v)/2), make([]float64, len(v)/2)
	for i := range xs {
		xs[i], ys[i] = v[2*i], v[2*i+1]
	}
	return xs, ys
}

// ELUMLP is an MLP on the last axis of x with ELU activations between the
// layers (scopes "layer_0", "layer_1", … of ctx, each an nn.Dense with
// bias). The ELU is nn.EluOf.
func ELUMLP(ctx *context.Context, x *graph.Node, hidden []int, outDim int) *graph.Node {
	return ELUMLPWith(ctx, x, hidden, outDim, nil)
}

// ELUMLPWith is ELUMLP with the last layer's weights created by lastInit
// (nil: ctx's initializer), e.g. a small normal so that a learned vector
// field starts close to zero.
func ELUMLPWith(ctx *context.Context, x *graph.Node, hidden []int, outDim int, lastInit initializers.VariableInitializer) *graph.Node {
	for i, h := range hidden {
		x = nn.Dense(ctx.Inf("layer_%d", i), x, h, true)
		x = nn.EluOf(x)
	}
	last := ctx.Inf("layer_%d", len(hidden))
	if lastInit != nil {
		last = last.WithInitializer(lastInit)
	}
	return nn.Dense(last, x, outDim, true)
}

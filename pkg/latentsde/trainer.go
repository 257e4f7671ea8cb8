package latentsde

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/gosde/gosde/internal/checkpoint"
	"github.com/gosde/gosde/pkg/diffeq"
)

// Data is a training set: X (n, len(Ts), DataDim) observed at Ts, with Mask
// of the same shape (1 observed, 0 missing; nil: all observed). Missing
// entries of X may hold any finite value.
type Data struct {
	Ts      []float64
	X, Mask *tensors.Tensor
}

// Validate checks the shapes, times and values against a model config.
func (d Data) Validate(c Config) error {
	if err := diffeq.CheckTimes("Data.Ts", d.Ts); err != nil {
		return err
	}
	if d.X == nil || d.X.Shape().Rank() != 3 || d.X.Shape().Dimensions[1] != len(d.Ts) || d.X.Shape().Dimensions[2] != c.DataDim {
		return fmt.Errorf("Data.X must be shaped (n, %d, %d), got %v", len(d.Ts), c.DataDim, shapeString(d.X))
	}
	xs, err := diffeq.Float64s(d.X)
	if err != nil {
		return fmt.Errorf("Data.X: %w", err)
	}
	if err := diffeq.CheckFinite("Data.X", xs); err != nil {
		return err
	}
	if d.Mask != nil && !d.Mask.Shape().Equal(d.X.Shape()) {
		return fmt.Errorf("Data.Mask must be shaped like X %s, got %s", d.X.Shape(), d.Mask.Shape())
	}
	return nil
}

func shapeString(t *tensors.Tensor) string {
	if t == nil {
		return "nil"
	}
	return t.Shape().String()
}

// TrainConfig configures a Trainer.
type TrainConfig struct {
	LearningRate float64    // Adam's learning rate (default 1e-3)
	Schedule     KLSchedule // KL weight per step (default LinearWarmup{Max: 1, Steps: 100})
	Seed         uint64     // noise seed; step s uses a stream derived from (Seed, s)
	// Chunk, if > 0, runs the solve in executable calls of at most Chunk
	// steps and computes the gradient chunk by chunk backwards, recomputing
	// each chunk (checkpointed backprop: the same gradients as the unrolled
	// graph). 0 unrolls the whole solve and its gradient in one graph, whose
	// compilation on XLA grows quickly with the number of steps.
	Chunk int
	// Shards, if > 1, splits the batch into that many row blocks whose
	// gradients are computed concurrently (one goroutine and one set of
	// executables each) and combined: the same gradients, on the same
	// noise, as one batch. It helps the pure-Go backend, whose executables
	// keep about one core busy; XLA uses every core by itself.
	Shards int
	// Objective is ObjectiveSolver (default: backprop through the solve) or
	// ObjectiveMatching (SDE Matching, no solve; Chunk and Shards do not
	// apply). The stochastic adjoint is adjoint.Trainer on AdjointModel.
	Objective Objective
	// Matching configures ObjectiveMatching's marginal network.
	Matching MatchingConfig
}

// StepStats are one training step's figures (batch means).
type StepStats struct {
	Step     int     // global step after the update (1 for the first)
	Loss     float64 // −(LogLik − KLWeight·KL)
	LogLik   float64
	KL       float64 // KL(q(z0)‖p(z0)) + path term
	KLWeight float64
	Seconds  float64
}

// Trainer fits a Model by maximising the ELBO with Adam, differentiating
// through the unrolled Euler–Maruyama solve (the direct method). Brownian
// increments and the z0 draws are made in Go from (Seed, step) and fed to
// the graph, so a step is reproducible and a resumed run continues the same
// noise sequence.
//
// It is not safe for concurrent use.
type Trainer struct {
	backend backends.Backend
	ctx     *context.Context
	model   *Model
	cfg     TrainConfig
	opt     optimizers.Interface
	train   *context.Exec // built for trainTs
	trainTs []float64
	// With Chunk > 0 or Shards > 1: one gradient engine per shard, for
	// engTs, and the optimizer update applied to their combined gradients.
	engines []*shardEngine
	engTs   []float64
	engWarm bool // the engines' graphs are built
	update  *context.Exec
	updVars []*context.Variable
	step    int
	// matching is ObjectiveMatching's executable (see matching_train.go).
	matching *matchingState
	hist     checkpoint.History // every step's figures, saved in checkpoints
}

// NewTrainer returns a trainer of m whose variables live in ctx (nil: a new
// context).
func NewTrainer(b backends.Backend, ctx *context.Context, m *Model, cfg TrainConfig) (*Trainer, error) {
	if b == nil || m == nil {
		return nil, fmt.Errorf("latentsde.NewTrainer: backend and model must not be nil")
	}
	cfg.LearningRate = cmp.Or(cfg.LearningRate, 1e-3)
	if !(cfg.LearningRate > 0) || math.IsInf(cfg.LearningRate, 0) {
		return nil, fmt.Errorf("latentsde.NewTrainer: LearningRate must be finite and > 0, got %g", cfg.LearningRate)
	}
	if cfg.Schedule == nil {
		cfg.Schedule = LinearWarmup{Max: 1, Steps: 100}
	}
	if cfg.Chunk < 0 || cfg.Shards < 0 {
		return nil, fmt.Errorf("latentsde.NewTrainer: Chunk and Shards must be ≥ 0, got %d and %d", cfg.Chunk, cfg.Shards)
	}
	if err := cfg.Objective.Validate(); err != nil {
		return nil, fmt.Errorf("latentsde.NewTrainer: Objective: %w", err)
	}
	if err := cfg.Matching.Validate(); err != nil {
		return nil, fmt.Errorf("latentsde.NewTrainer: %w", err)
	}
	if ctx == nil {
		ctx = context.New()
	}
	t := &Trainer{backend: b, ctx: ctx, model: m, cfg: cfg, opt: optimizers.Adam().LearningRate(cfg.LearningRate).Done()}
	return t, nil
}

// trainExec returns the training step's executable for observation times
// ts (rebuilt when they change): inputs X, Mask, eps0, dW, KL weight;
// outputs loss, log-likelihood, KL.
func (t *Trainer) trainExec(ts []float64) (*context.Exec, error) {
	if t.train != nil && slices.Equal(ts, t.trainTs) {
		return t.train, nil
	}
	if t.train != nil {
		t.train.Finalize()
	}
	ts = append([]float64(nil), ts...)
	m, opt := t.model, t.opt
	e, err := context.NewExec(t.backend, t.ctx, func(ctx *context.Context, in []*Node) []*Node {
		x, mask, eps0, dW, w := in[0], in[1], in[2], in[3], in[4]
		terms, err := m.ELBOGraph(ctx, Observations{X: x, Mask: mask, Ts: ts}, eps0, dW, w)
		if err != nil {
			panic(err)
		}
		opt.UpdateGraph(ctx, x.Graph(), terms.Loss)
		return []*Node{terms.Loss, terms.LogLik, terms.KL}
	})
	if err != nil {
		return nil, err
	}
	t.train, t.trainTs = e, ts
	return e, nil
}

// Context returns the trainer's context (the model's variables).
func (t *Trainer) Context() *context.Context { return t.ctx }

// Model returns the model.
func (t *Trainer) Model() *Model { return t.model }

// GlobalStep returns the number of training steps taken (restored by Load).
func (t *Trainer) GlobalStep() int { return t.step }

// noise returns the z0 draws (batch, d) and the Brownian increments
// (steps, batch, d) over grid for stream (seed, key).
func (t *Trainer) noise(key uint64, batch int, grid []float64) (eps0, dW *tensors.Tensor) {
	e, w := t.noiseValues(key, batch, grid)
	d, dt := t.model.cfg.LatentDim, t.model.cfg.DType
	return diffeq.FromFloat64s(dt, e, batch, d), diffeq.FromFloat64s(dt, w, len(grid)-1, batch, d)
}

// noiseValues returns noise's values, flat.
func (t *Trainer) noiseValues(key uint64, batch int, grid []float64) (e, w []float64) {
	d := t.model.cfg.LatentDim
	r := rand.New(rand.NewPCG(t.cfg.Seed, key))
	e = make([]float64, batch*d)
	for i := range e {
		e[i] = r.NormFloat64()
	}
	steps := len(grid) - 1
	w = make([]float64, steps*batch*d)
	for k := 0; k < steps; k++ {
		s := math.Sqrt(grid[k+1] - grid[k])
		for i := k * batch * d; i < (k+1)*batch*d; i++ {
			w[i] = s * r.NormFloat64()
		}
	}
	return e, w
}

// onesLike returns a tensor of ones shaped like x with dtype.
func onesLike(x *tensors.Tensor, dtype dtypes.DType) *tensors.Tensor {
	v := make([]float64, x.Shape().Size())
	for i := range v {
		v[i] = 1
	}
	return diffeq.FromFloat64s(dtype, v, x.Shape().Dimensions...)
}

// Step takes one Adam step on the whole of data (all n sequences form the
// batch) and returns its figures.
func (t *Trainer) Step(data Data) (StepStats, error) {
	c := t.model.cfg
	if err := data.Validate(c); err != nil {
		return StepStats{}, fmt.Errorf("latentsde.Trainer.Step: %w", err)
	}
	start := time.Now()
	if t.cfg.Objective == ObjectiveMatching {
		return t.record(t.matchingStep(data, start))
	}
	if t.cfg.Chunk > 0 || t.cfg.Shards > 1 {
		return t.record(t.splitStep(data, start))
	}
	exec, err := t.trainExec(data.Ts)
	if err != nil {
		return StepStats{}, fmt.Errorf("latentsde.Trainer.Step: %w", err)
	}
	grid, _, err := t.model.Grid(data.Ts)
	if err != nil {
		return StepStats{}, fmt.Errorf("latentsde.Trainer.Step: %w", err)
	}
	batch := data.X.Shape().Dimensions[0]
	eps0, dW := t.noise(uint64(t.step)+1, batch, grid)
	mask := data.Mask
	if mask == nil {
		mask = onesLike(data.X, c.DType)
	}
	w := t.cfg.Schedule.Weight(t.step)
	out, err := exec.Exec(castTo(data.X, c.DType), castTo(mask, c.DType), eps0, dW, diffeq.ScalarTensor(c.DType, w))
	if err != nil {
		return StepStats{}, fmt.Errorf("latentsde.Trainer.Step: %w", err)
	}
	st, err := t.stepStats(out, w, start)
	if err != nil {
		return st, err
	}
	return t.record(st, nil)
}

// stepStats counts a step taken and returns its figures from the training
// executable's first three outputs (loss, log-likelihood, KL), w and the
// step's start; a non-finite loss is an error.
func (t *Trainer) stepStats(out []*tensors.Tensor, w float64, start time.Time) (StepStats, error) {
	t.step++
	st := StepStats{Step: t.step, KLWeight: w}
	vals := make([]float64, 3)
	for i := range vals {
		v, err := diffeq.Float64s(out[i])
		if err != nil {
			return StepStats{}, err
		}
		vals[i] = v[0]
	}
	st.Loss, st.LogLik, st.KL = vals[0], vals[1], vals[2]
	st.Seconds = time.Since(start).Seconds()
	if math.IsNaN(st.Loss) || math.IsInf(st.Loss, 0) {
		return st, fmt.Errorf("latentsde.Trainer.Step: loss is %g at step %d", st.Loss, t.step)
	}
	return st, nil
}

// castTo returns x converted to dtype (x itself if it already has it).
func castTo(x *tensors.Tensor, dtype dtypes.DType) *tensors.Tensor {
	if x.DType() == dtype {
		return x
	}
	v, err := diffeq.Float64s(x)
	if err != nil {
		panic(err)
	}
	return diffeq.FromFloat64s(dtype, v, x.Shape().Dimensions...)
}

// SamplePrior draws n paths from the prior (z0 ~ p(z0), prior SDE) at the
// save times ts and returns the decoded observations paths[i][k] (DataDim
// values each; flattened as [i][k*DataDim+j]) and the latents likewise.
func (t *Trainer) SamplePrior(n int, ts []float64, seed uint64) (obs, latents [][]float64, err error) {
	if n < 1 {
		return nil, nil, fmt.Errorf("latentsde.Trainer.SamplePrior: n must be ≥ 1, got %d", n)
	}
	grid, _, err := t.model.Grid(ts)
	if err != nil {
		return nil, nil, fmt.Errorf("latentsde.Trainer.SamplePrior: ts: %w", err)
	}
	m := t.model
	e, err := context.NewExec(t.backend, t.ctx, func(ctx *context.Context, eps0, dW *Node) []*Node {
		pm, plv := m.PriorZ0(ctx, eps0.Graph())
		z0 := Sample0(broadcastTo(pm, eps0.Shape()), broadcastTo(plv, eps0.Shape()), eps0)
		return unrollDecoded(ctx, m, z0, ts, dW, nil, nil, false)
	})
	if err != nil {
		return nil, nil, err
	}
	defer e.Finalize()
	eps0, dW := t.noise(seed^0x5deece66d<<20, n, grid)
	out, err := e.Exec(eps0, dW)
	if err != nil {
		return nil, nil, fmt.Errorf("latentsde.Trainer.SamplePrior: %w", err)
	}
	return unstack(out[0], n), unstack(out[1], n), nil
}

// unrollDecoded unrolls m from z0 (see Model.Unroll, whose error it panics
// with, inside a graph builder) and returns stackDecoded of the latents.
func unrollDecoded(ctx *context.Context, m *Model, z0 *Node, saveTs []float64, dW *Node, contexts []*Node, obsTs []float64, posterior bool) []*Node {
	zs, _, err := m.Unroll(ctx, z0, saveTs, dW, contexts, obsTs, posterior)
	if err != nil {
		panic(err)
	}
	return stackDecoded(ctx, m, zs)
}

// stackDecoded returns the decoded observations (n, T, DataDim) and the
// latents (n, T, LatentDim) of zs.
func stackDecoded(ctx *context.Context, m *Model, zs []*Node) []*Node {
	dec := make([]*Node, len(zs))
	for i, z := range zs {
		dec[i] = m.Decode(ctx, z)
	}
	return []*Node{graph.Stack(dec, 1), graph.Stack(zs, 1)}
}

// unstack returns a (n, …) tensor as n flat rows.
func unstack(x *tensors.Tensor, n int) [][]float64 {
	v, err := diffeq.Float64s(x)
	if err != nil {
		panic(err)
	}
	rows := make([][]float64, n)
	w := len(v) / n
	for i := range rows {
		rows[i] = v[i*w : (i+1)*w]
	}
	return rows
}

// SamplePosterior encodes the observations of data and draws one posterior
// path per sequence (z0 ~ q(z0 | x), posterior SDE), saved at predTs (any
// strictly increasing times starting at data.Ts[0]; beyond the last
// observation the last context is used). It returns the decoded paths and
// latents, flattened as in SamplePrior.
func (t *Trainer) SamplePosterior(data Data, predTs []float64, seed uint64) (obs, latents [][]float64, err error) {
	c := t.model.cfg
	if err := data.Validate(c); err != nil {
		return nil, nil, fmt.Errorf("latentsde.Trainer.SamplePosterior: %w", err)
	}
	if err := diffeq.CheckTimes("predTs", predTs); err != nil {
		return nil, nil, fmt.Errorf("latentsde.Trainer.SamplePosterior: %w", err)
	}
	if predTs[0] != data.Ts[0] {
		return nil, nil, fmt.Errorf("latentsde.Trainer.SamplePosterior: predTs must start at the first observation time %g, got %g", data.Ts[0], predTs[0])
	}
	if t.cfg.Objective == ObjectiveMatching {
		return t.sampleMatchingPosterior(data, predTs, seed)
	}
	grid, _, err := t.model.Grid(predTs)
	if err != nil {
		return nil, nil, err
	}
	m := t.model
	obsTs := append([]float64(nil), data.Ts...)
	e, err := context.NewExec(t.backend, t.ctx, func(ctx *context.Context, x, mask, eps0, dW *Node) []*Node {
		o := Observations{X: x, Mask: mask, Ts: obsTs}
		contexts, qm, qlv := m.Encode(ctx, o)
		return unrollDecoded(ctx, m, Sample0(qm, qlv, eps0), predTs, dW, contexts, obsTs, true)
	})
	if err != nil {
		return nil, nil, err
	}
	defer e.Finalize()
	n := data.X.Shape().Dimensions[0]
	mask := data.Mask
	if mask == nil {
		mask = onesLike(data.X, c.DType)
	}
	eps0, dW := t.noise(seed^0x2545f4914f6cdd1d, n, grid)
	out, err := e.Exec(castTo(data.X, c.DType), castTo(mask, c.DType), eps0, dW)
	if err != nil {
		return nil, nil, fmt.Errorf("latentsde.Trainer.SamplePosterior: %w", err)
	}
	return unstack(out[0], n), unstack(out[1], n), nil
}

// Kind is the model kind recorded in the latent SDE's checkpoints.
const Kind = "latentsde"

// HistoryColumns are the columns of Trainer.History: the step's loss,
// log-likelihood, KL and ELBO (log-likelihood − KL), batch means.
var HistoryColumns = []string{"loss", "loglik", "kl", "elbo"}

// record appends a successful step's figures to the history and passes
// (st, err) through.
func (t *Trainer) record(st StepStats, err error) (StepStats, error) {
	if err != nil {
		return st, err
	}
	if len(t.hist.Columns) == 0 {
		t.hist = checkpoint.NewHistory(HistoryColumns...)
	}
	if err := t.hist.Append(st.Step, st.Loss, st.LogLik, st.KL, st.LogLik-st.KL); err != nil {
		return st, fmt.Errorf("latentsde.Trainer.Step: %w", err)
	}
	return st, nil
}

// History returns the figures of every step taken (including those
// restored by Load), columns HistoryColumns.
func (t *Trainer) History() checkpoint.History { return t.hist.Clone() }

// identity returns the checkpoint identity of the trainer's model: Kind and
// the model's configuration.
func (t *Trainer) identity() (checkpoint.Identity, error) {
	return checkpoint.NewIdentity(Kind, t.model.cfg)
}

// Save writes the trainer's state to path in gosde's checkpoint format
// (internal/checkpoint), atomically: the model kind and configuration, the
// step count, every variable of the context (weights, Adam's moments, the
// global step) and the history.
func (t *Trainer) Save(path string) error {
	id, err := t.identity()
	if err != nil {
		return fmt.Errorf("latentsde.Trainer.Save: %w", err)
	}
	ck, err := checkpoint.Snapshot(t.ctx, id, t.step, t.hist)
	if err != nil {
		return fmt.Errorf("latentsde.Trainer.Save: %w", err)
	}
	if err := checkpoint.Write(path, ck); err != nil {
		return fmt.Errorf("latentsde.Trainer.Save: %w", err)
	}
	return nil
}

// Load restores a checkpoint written by Save (variables are created or
// overwritten), the step count and the history. A damaged file, or one of
// another kind of model or another configuration, is refused with an error
// naming both; then the trainer is unchanged.
func (t *Trainer) Load(path string) error {
	id, err := t.identity()
	if err != nil {
		return fmt.Errorf("latentsde.Trainer.Load: %w", err)
	}
	ck, err := checkpoint.Load(path, id)
	if err != nil {
		return fmt.Errorf("latentsde.Trainer.Load: %w", err)
	}
	if err := ck.Restore(t.ctx); err != nil {
		return fmt.Errorf("latentsde.Trainer.Load: %s: %w", path, err)
	}
	t.step, t.hist = ck.Step, ck.History
	return nil
}

// Rows returns each sequence of X as a flat row (len(Ts)·DataDim values,
// time-major).
func (d Data) Rows() [][]float64 {
	return unstack(d.X, d.X.Shape().Dimensions[0])
}

// Head returns the first k sequences (all if k is larger).
func (d Data) Head(k int) Data {
	dims := d.X.Shape().Dimensions
	k = min(k, dims[0])
	head := func(x *tensors.Tensor) *tensors.Tensor {
		if x == nil {
			return nil
		}
		v, err := diffeq.Float64s(x)
		if err != nil {
			panic(err)
		}
		return diffeq.FromFloat64s(x.DType(), v[:k*dims[1]*dims[2]], k, dims[1], dims[2])
	}
	return Data{Ts: d.Ts, X: head(d.X), Mask: head(d.Mask)}
}

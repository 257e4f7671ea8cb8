package spirals

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"time"

	"github.com/gomlx/gomlx/backends"

	data "github.com/gosde/gosde/pkg/datasets/spirals"
)

// Config configures Run. Zero fields take the defaults given.
type Config struct {
	// Data configures the spirals (default: 1000 spirals, 200 points on
	// [0, 6.29·5], noise 0.02). Data.Seed is replaced by Seed.
	Data data.Config
	// HeldOutFrac is the fraction of spirals held out for evaluation
	// (default 0.1).
	HeldOutFrac float64
	// Model sizes the latent ODE; Solver chooses the solve and gradient.
	Model  ModelConfig
	Solver SolverConfig
	// Iters is the total number of training steps (default 2000): a run
	// resumed from a checkpoint continues up to Iters.
	Iters int
	// Batch is the number of spirals per step (default 32); LR is Adam's
	// learning rate (default 1e-3).
	Batch int
	LR    float64
	// Span and Keep shape the training samples (defaults 100 and 30/50/100,
	// see data.SampleOptions).
	Span int
	Keep []int
	// Seed seeds the data, the weights and the sampling.
	Seed uint64
	// Checkpoint, if set, is a file the learner is resumed from when it
	// exists and saved to (atomically) every SaveEvery steps (default 100)
	// and at the end.
	Checkpoint string
	SaveEvery  int
	// OnStep, if set, is called after each step with the step number
	// (1-based, counting resumed steps) and the loss.
	OnStep func(step int, loss float64)
	// SkipEval skips the held-out evaluation at the end of Run.
	SkipEval bool
}

func (c Config) withDefaults() Config {
	if c.Data == (data.Config{}) {
		c.Data = data.DefaultConfig()
	}
	c.Data.Seed = c.Seed
	c.HeldOutFrac = cmp.Or(c.HeldOutFrac, 0.1)
	c.Model = c.Model.withDefaults()
	c.Solver = c.Solver.withDefaults()
	c.Iters = cmp.Or(c.Iters, 2000)
	c.Batch = cmp.Or(c.Batch, 32)
	c.LR = cmp.Or(c.LR, 1e-3)
	c.Span = cmp.Or(c.Span, 100)
	if len(c.Keep) == 0 {
		c.Keep = data.DefaultKeep
	}
	c.SaveEvery = cmp.Or(c.SaveEvery, 100)
	return c
}

// Result is the outcome of Run.
type Result struct {
	Config  Config
	Learner *Learner
	// Train and HeldOut are the two parts of the generated spirals.
	Train, HeldOut *data.Dataset
	// Losses are the losses of the steps run by this call.
	Losses []float64
	// Resumed is the step count loaded from the checkpoint (0 if none).
	Resumed int
	// TrainTime is the wall time of the training steps of this call.
	TrainTime time.Duration
	// Eval is the held-out evaluation (nil with SkipEval).
	Eval *Evaluation
}

// Setup generates the data of cfg (defaults applied) and builds a learner,
// resumed from cfg.Checkpoint when that file exists.
func Setup(b backends.Backend, cfg Config) (*Result, error) {
	cfg = cfg.withDefaults()
	switch {
	case cfg.Iters < 0:
		return nil, fmt.Errorf("spirals: Config.Iters must be ≥ 0, got %d", cfg.Iters)
	case cfg.Batch < 1:
		return nil, fmt.Errorf("spirals: Config.Batch must be ≥ 1, got %d", cfg.Batch)
	case cfg.SaveEvery < 1:
		return nil, fmt.Errorf("spirals: Config.SaveEvery must be ≥ 1, got %d", cfg.SaveEvery)
	}
	ds, err := data.Generate(cfg.Data)
	if err != nil {
		return nil, err
	}
	train, heldOut, err := ds.Split(cfg.HeldOutFrac)
	if err != nil {
		return nil, err
	}
	m, err := NewModel(cfg.Model)
	if err != nil {
		return nil, err
	}
	l, err := NewLearner(b, m, cfg.Solver, cfg.LR, ds.Ts[1]-ds.Ts[0], cfg.Seed)
	if err != nil {
		return nil, err
	}
	res := &Result{Config: cfg, Learner: l, Train: train, HeldOut: heldOut}
	if cfg.Checkpoint != "" {
		if _, err := os.Stat(cfg.Checkpoint); err == nil {
			if err := l.Load(cfg.Checkpoint); err != nil {
				return nil, err
			}
			res.Resumed = l.Steps()
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("spirals: checkpoint: %w", err)
		}
	}
	return res, nil
}

// Run trains a latent ODE on the spirals of cfg (resuming from and saving to
// cfg.Checkpoint) and evaluates it on the held-out spirals.
func Run(b backends.Backend, cfg Config) (*Result, error) {
	res, err := Setup(b, cfg)
	if err != nil {
		return nil, err
	}
	if err := res.Fit(); err != nil {
		return res, err
	}
	if !res.Config.SkipEval {
		if res.Eval, err = Evaluate(res.Learner, res.HeldOut, res.Config.Seed); err != nil {
			return res, err
		}
	}
	return res, nil
}

// Fit runs the training steps from the learner's step count up to
// Config.Iters, saving checkpoints when configured.
func (r *Result) Fit() error {
	cfg, l := r.Config, r.Learner
	// The sampling stream depends on the step, so a resumed run continues
	// with fresh batches.
	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(l.Steps())+0x7a1))
	opts := data.SampleOptions{Span: cfg.Span, Keep: cfg.Keep}
	start := time.Now()
	defer func() { r.TrainTime += time.Since(start) }()
	for l.Steps() < cfg.Iters {
		batch, err := r.Train.Sample(rng, cfg.Batch, opts)
		if err != nil {
			return err
		}
		loss, err := l.Step(batch, rng)
		if err != nil {
			return err
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return fmt.Errorf("spirals: loss is %g at step %d", loss, l.Steps())
		}
		r.Losses = append(r.Losses, loss)
		if cfg.OnStep != nil {
			cfg.OnStep(l.Steps(), loss)
		}
		if cfg.Checkpoint != "" && (l.Steps()%cfg.SaveEvery == 0 || l.Steps() == cfg.Iters) {
			if err := l.Save(cfg.Checkpoint); err != nil {
				return err
			}
		}
	}
	return nil
}

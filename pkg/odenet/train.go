package odenet

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train"
	"github.com/gomlx/gomlx/pkg/ml/train/losses"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
	"github.com/gomlx/gomlx/ui/commandline"
	"github.com/gomlx/gomlx/ui/notebooks"

	"github.com/gosde/gosde/internal/catch"
	"github.com/gosde/gosde/internal/checkpoint"
	"github.com/gosde/gosde/pkg/adjoint"
	"github.com/gosde/gosde/pkg/datasets/mnist"
)

// Options configure Train. Zero values take the documented defaults.
type Options struct {
	Epochs    int     // passes over the training set (default 1)
	Batch     int     // training batch size (default 128)
	EvalBatch int     // evaluation batch size (default 500)
	LR        float64 // learning rate (default 1e-3 for Adam, 0.1 for SGD)
	Optimizer string  // "adam" (default) or "sgd" (with momentum 0.9, as the reference)
	Seed      uint64  // initialisation and shuffling seed (default 0)
	// OutDir, if set, receives checkpoints in gosde's checkpoint format
	// (one file each, written atomically, recording the model and its
	// configuration, the variables and the loss history) every
	// CheckpointEvery steps and at the end; a run with the same OutDir
	// resumes from the latest one, and refuses one written for another
	// model or configuration.
	OutDir          string
	CheckpointEvery int  // default 100 steps
	Keep            int  // checkpoints of this run kept (default 3); those of earlier runs are never deleted
	Progress        bool // show progress: GoMLX's progress bar in a terminal or notebook, else plain lines on Log
	Log             io.Writer
	// OnStep, if set, is called after every training step with the number
	// of steps done (counting resumed ones), the run's total and the
	// step's training loss (e.g. to drive a progress.Bar).
	OnStep func(step, total int, loss float64)
	// Grad, if set (adjoint.Direct or adjoint.Adjoint), trains the ODE-Net
	// with adjoint.Trainer: the block is solved on the host (Dopri5 adaptive
	// with RTol/ATol, other methods with Config.Steps fixed steps) and the
	// gradients come from backpropagation through the unrolled solve
	// (Direct, the paper's RK-Net) or from the continuous adjoint. Empty:
	// the block is unrolled in the training graph with Config.Steps fixed
	// steps (Dopri5 then being a fixed-step fifth-order method).
	Grad adjoint.Method
	// RTol and ATol are Dopri5's tolerances when Grad is set (default 1e-3).
	RTol, ATol float64
	// AdjointCheckpointEvery > 0 makes the adjoint store the state every
	// that many solver steps and restart the backward reconstruction of z
	// there (adjoint.TrainerConfig.CheckpointEvery); 0: no stored states
	// (O(1) memory).
	AdjointCheckpointEvery int
	// Shards, with Grad set, splits each batch into that many row blocks
	// trained concurrently (adjoint.TrainerConfig.Shards; the pure-Go backend
	// runs one operation at a time, so this is how a step uses several
	// cores). 0 or 1: none.
	Shards int
}

func (o *Options) defaults() error {
	o.Epochs = cmp.Or(o.Epochs, 1)
	o.Batch = cmp.Or(o.Batch, 128)
	o.EvalBatch = cmp.Or(o.EvalBatch, 500)
	o.Optimizer = cmp.Or(o.Optimizer, "adam")
	if o.LR == 0 {
		o.LR = 1e-3
		if o.Optimizer == "sgd" {
			o.LR = 0.1
		}
	}
	o.CheckpointEvery = cmp.Or(o.CheckpointEvery, 100)
	o.Keep = cmp.Or(o.Keep, 3)
	if o.Log == nil {
		o.Log = io.Discard
	}
	switch {
	case o.Epochs < 0:
		return fmt.Errorf("odenet: epochs must be ≥ 1, got %d", o.Epochs)
	case o.Batch < 1 || o.EvalBatch < 1:
		return fmt.Errorf("odenet: batch sizes must be ≥ 1, got %d and %d", o.Batch, o.EvalBatch)
	case !(o.LR > 0) || math.IsInf(o.LR, 0):
		return fmt.Errorf("odenet: learning rate must be finite and > 0, got %g", o.LR)
	case o.Optimizer != "adam" && o.Optimizer != "sgd":
		return fmt.Errorf("odenet: optimizer %q not supported (want adam or sgd)", o.Optimizer)
	case o.Grad != "" && o.Grad != adjoint.Direct && o.Grad != adjoint.Adjoint:
		return fmt.Errorf("odenet: gradient method %q not supported (want %s or %s)", o.Grad, adjoint.Direct, adjoint.Adjoint)
	case o.CheckpointEvery < 1 || o.Keep < 1:
		return fmt.Errorf("odenet: checkpoint interval and count must be ≥ 1, got %d and %d", o.CheckpointEvery, o.Keep)
	}
	return nil
}

// Result summarises a training run.
type Result struct {
	Config         Config
	Params         int     // trainable parameters
	Steps          int     // global step at the end (including resumed steps)
	StepsRun       int     // steps run in this call
	ResumedFrom    int     // global step loaded from a checkpoint (0 if none)
	TrainLoss      float64 // mean batch loss over the steps of the last epoch run in this call (NaN if none)
	TrainSeconds   float64
	TrainImagesSec float64 // training images per second (forward + backward + update)
	TestAccuracy   float64 // fraction of the test set classified correctly
	TestLoss       float64 // mean cross-entropy on the test set
	EvalSeconds    float64
	EvalImagesSec  float64
	// NFEForward is the dynamics evaluations per forward solve (per batch;
	// with Options.Grad the mean over the training steps run, or over the
	// evaluation batches when none ran).
	NFEForward int
	// NFEBackward is the mean evaluations per backward solve (adjoint only;
	// 0 where autodiff differentiates the unrolled solve).
	NFEBackward int
}

// NewContext returns a context for a classifier, its random initialisation
// seeded by seed.
func NewContext(seed uint64) *context.Context {
	ctx := context.New()
	if err := ctx.SetRNGStateFromSeed(int64(seed)); err != nil {
		panic(err)
	}
	return ctx
}

// ParamCount builds cfg's classifier in ctx (creating its variables) and
// returns the number of trainable parameters.
func ParamCount(b backends.Backend, ctx *context.Context, cfg Config) (int, error) {
	if err := cfg.Validate(); err != nil {
		return 0, err
	}
	g := graph.NewGraph(b, "params")
	defer g.Finalize()
	err := catch.Panic(func() {
		x := graph.Zeros(g, shapesImages(1))
		Logits(ctx.Checked(false), cfg, x)
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for v := range ctx.IterVariables() {
		if v.Trainable && v.Shape().DType.IsFloat() && !strings.HasPrefix(v.Scope(), "/"+optimizers.Scope) {
			n += v.Shape().Size()
		}
	}
	return n, nil
}

// Train trains cfg's classifier on trainSet and evaluates it on testSet.
// It resumes from the latest checkpoint in opts.OutDir when there is one.
func Train(b backends.Backend, cfg Config, trainSet, testSet *mnist.Set, opts Options) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	if opts.Grad != "" {
		return trainSolved(b, cfg, trainSet, testSet, opts)
	}
	ctx := NewContext(opts.Seed)
	res := &Result{Config: cfg, NFEForward: cfg.NFE(), TrainLoss: math.NaN()}
	ckpts, err := res.resume(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	opt := newOptimizer(opts)
	modelFn := func(ctx *context.Context, _ any, inputs []*graph.Node) []*graph.Node {
		return []*graph.Node{Logits(ctx, cfg, inputs[0])}
	}
	trainer := train.NewTrainer(b, ctx.Checked(false), modelFn, losses.SparseCategoricalCrossEntropyLogits, opt, nil, nil)
	loop := train.NewLoop(trainer)
	if opts.Progress {
		attachProgress(loop, opts.Log)
	}
	ds, err := NewBatches(trainSet, opts.Batch, opts.Seed, res.ResumedFrom, true)
	if err != nil {
		return nil, err
	}
	target := opts.Epochs * ds.StepsPerEpoch()
	lastEpochStart := target - ds.StepsPerEpoch()
	var lossSum float64
	var lossN int
	loop.OnStep("odenet-loss", 0, func(loop *train.Loop, metrics []*tensors.Tensor) error {
		if len(metrics) == 0 {
			return nil
		}
		loss := tensorFloat(metrics[0])
		if loop.LoopStep >= lastEpochStart {
			lossSum += loss
			lossN++
		}
		if opts.OnStep != nil {
			opts.OnStep(loop.LoopStep+1, target, loss)
		}
		// LoopStep is the global step before this step's update.
		return ckpts.record(loop.LoopStep+1, loss)
	})
	if opts.OutDir != "" {
		train.EveryNSteps(loop, opts.CheckpointEvery, "checkpoint", 100, func(loop *train.Loop, _ []*tensors.Tensor) error {
			return ckpts.save(ctx)
		})
	}
	if res.ResumedFrom > 0 {
		fmt.Fprintf(opts.Log, "resuming from step %d of %d (checkpoint in %s)\n", res.ResumedFrom, target, opts.OutDir)
	}
	start := time.Now()
	if target > res.ResumedFrom {
		if _, err := loop.RunToGlobalStep(ds, target); err != nil {
			return nil, fmt.Errorf("odenet: training: %w", err)
		}
		res.StepsRun = target - res.ResumedFrom
		if err := ckpts.save(ctx); err != nil {
			return nil, err
		}
	}
	res.TrainSeconds = time.Since(start).Seconds()
	if res.StepsRun > 0 {
		res.TrainImagesSec = float64(res.StepsRun*opts.Batch) / res.TrainSeconds
	}
	err = res.finish(b, ctx, cfg, lossSum, lossN, testSet, func() (acc, loss float64, nfe int, err error) {
		acc, loss, err = Evaluate(b, ctx, cfg, testSet, opts.EvalBatch)
		return acc, loss, 0, err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// runCheckpoints are a training run's checkpoints (in Options.OutDir; none
// when it is empty) and its loss history, which every checkpoint carries.
type runCheckpoints struct {
	id     checkpoint.Identity
	series *checkpoint.Series
	hist   checkpoint.History
}

// CheckpointIdentity returns the model identity recorded in cfg's
// checkpoints: kind "odenet" or "resnet" and the configuration (for the
// ResNet only the model, which ignores the solver fields).
func CheckpointIdentity(cfg Config) (checkpoint.Identity, error) {
	if cfg.Model == ResNet {
		cfg = Config{Model: ResNet}
	}
	return checkpoint.NewIdentity(cfg.Model, cfg)
}

// resume creates opts.OutDir (when set) and loads its latest checkpoint into
// ctx, recording the global step it resumes from. A checkpoint of another
// model or configuration, or a damaged one, is an error naming it; nothing
// is deleted.
func (res *Result) resume(ctx *context.Context, cfg Config, opts Options) (*runCheckpoints, error) {
	id, err := CheckpointIdentity(cfg)
	if err != nil {
		return nil, fmt.Errorf("odenet: %w", err)
	}
	rc := &runCheckpoints{id: id, hist: checkpoint.NewHistory("loss")}
	if opts.OutDir == "" {
		return rc, nil
	}
	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("odenet: creating --out directory: %w", err)
	}
	step, hist, err := loadLatest(ctx, opts.OutDir, cfg)
	if err != nil {
		return nil, err
	}
	if step > 0 {
		res.ResumedFrom, rc.hist = step, hist
	}
	rc.series = &checkpoint.Series{Dir: opts.OutDir, Keep: opts.Keep}
	return rc, nil
}

// LoadCheckpoint loads the latest checkpoint in dir, which must have been
// written for cfg's model and configuration, into ctx (weights, optimizer
// state, global step) and returns its step; 0 when dir holds none.
func LoadCheckpoint(ctx *context.Context, dir string, cfg Config) (step int, err error) {
	step, _, err = loadLatest(ctx, dir, cfg)
	return step, err
}

func loadLatest(ctx *context.Context, dir string, cfg Config) (int, checkpoint.History, error) {
	id, err := CheckpointIdentity(cfg)
	if err != nil {
		return 0, checkpoint.History{}, fmt.Errorf("odenet: %w", err)
	}
	ck, err := checkpoint.LoadLatest(dir, id)
	if err != nil || ck == nil {
		if err != nil {
			err = fmt.Errorf("odenet: resuming from %s: %w", dir, err)
		}
		return 0, checkpoint.History{}, err
	}
	if err := ck.Restore(ctx); err != nil {
		return 0, checkpoint.History{}, fmt.Errorf("odenet: %w", err)
	}
	if gs := int(optimizers.GetGlobalStep(ctx)); gs != ck.Step {
		return 0, checkpoint.History{}, fmt.Errorf("odenet: checkpoint of step %d in %s holds global step %d", ck.Step, dir, gs)
	}
	return ck.Step, ck.History, nil
}

// record appends a training step's loss to the history.
func (rc *runCheckpoints) record(step int, loss float64) error {
	if err := rc.hist.Append(step, loss); err != nil {
		return fmt.Errorf("odenet: %w", err)
	}
	return nil
}

// save writes ctx's variables and the history as a checkpoint of the
// current global step (nothing without an output directory).
func (rc *runCheckpoints) save(ctx *context.Context) error {
	if rc.series == nil {
		return nil
	}
	ck, err := checkpoint.Snapshot(ctx, rc.id, int(optimizers.GetGlobalStep(ctx)), rc.hist)
	if err != nil {
		return fmt.Errorf("odenet: %w", err)
	}
	if _, err := rc.series.Save(ck); err != nil {
		return fmt.Errorf("odenet: %w", err)
	}
	return nil
}

// finish fills in the mean training loss, the global step and the parameter
// count, then evaluates on testSet (when not nil) with eval, timing it. When
// no training step ran, the evaluation's NFE stands for the forward NFE.
func (res *Result) finish(b backends.Backend, ctx *context.Context, cfg Config, lossSum float64, lossN int,
	testSet *mnist.Set, eval func() (acc, loss float64, nfe int, err error)) error {
	if lossN > 0 {
		res.TrainLoss = lossSum / float64(lossN)
	}
	res.Steps = int(optimizers.GetGlobalStep(ctx))
	var err error
	if res.Params, err = ParamCount(b, ctx, cfg); err != nil {
		return err
	}
	if testSet == nil {
		return nil
	}
	start := time.Now()
	var nfe int
	if res.TestAccuracy, res.TestLoss, nfe, err = eval(); err != nil {
		return err
	}
	if res.StepsRun == 0 && nfe > 0 {
		res.NFEForward = nfe
	}
	res.EvalSeconds = time.Since(start).Seconds()
	res.EvalImagesSec = float64(testSet.N) / res.EvalSeconds
	return nil
}

// Evaluate returns the accuracy and mean cross-entropy of cfg's classifier
// (variables in ctx) on set, in batches of batch images (the last batch may
// be smaller).
func Evaluate(b backends.Backend, ctx *context.Context, cfg Config, set *mnist.Set, batch int) (accuracy, loss float64, err error) {
	if batch < 1 {
		return 0, 0, fmt.Errorf("odenet: evaluation batch must be ≥ 1, got %d", batch)
	}
	exec, err := context.NewExec(b, ctx.Reuse(), func(ctx *context.Context, x, labels *graph.Node) []*graph.Node {
		return evalOutputs(Logits(ctx, cfg, x), labels)
	})
	if err != nil {
		return 0, 0, fmt.Errorf("odenet: building evaluation: %w", err)
	}
	defer exec.Finalize()
	return evalBatches(set, batch, func(x, y *tensors.Tensor) (float64, float64, error) {
		out, err := exec.Exec(x, y)
		if err != nil {
			return 0, 0, err
		}
		return tensorFloat(out[0]), tensorFloat(out[1]), nil
	})
}

// evalBatches runs eval on consecutive batches of set (images x, labels y)
// and returns the accuracy and the mean loss; eval returns a batch's number
// of correct predictions and its mean loss.
func evalBatches(set *mnist.Set, batch int, eval func(x, y *tensors.Tensor) (correct, loss float64, err error)) (accuracy, loss float64, err error) {
	var nCorrect, lossSum float64
	for s := 0; s < set.N; s += batch {
		n := min(batch, set.N-s)
		idx := make([]int, n)
		for i := range idx {
			idx[i] = s + i
		}
		x, y := batchTensors(set, idx)
		c, l, err := eval(x, y)
		x.FinalizeAll()
		y.FinalizeAll()
		if err != nil {
			return 0, 0, fmt.Errorf("odenet: evaluating images %d–%d: %w", s, s+n-1, err)
		}
		nCorrect += c
		lossSum += l * float64(n) // the loss is the batch mean
	}
	return nCorrect / float64(set.N), lossSum / float64(set.N), nil
}

// tensorFloat returns a scalar tensor's value as float64.
func tensorFloat(t *tensors.Tensor) float64 {
	switch v := t.Value().(type) {
	case float32:
		return float64(v)
	case float64:
		return v
	}
	return math.NaN()
}

// attachProgress shows a training loop's progress: GoMLX's progress bar in
// a notebook or when stdout is a terminal (it draws with escape codes),
// otherwise a plain line on log at each tenth of the run.
func attachProgress(loop *train.Loop, log io.Writer) {
	if st, err := os.Stdout.Stat(); notebooks.IsNotebook() || (err == nil && st.Mode()&os.ModeCharDevice != 0) {
		commandline.AttachProgressBar(loop)
		return
	}
	start := time.Now()
	train.NTimesDuringLoop(loop, 10, "odenet-progress", 0, func(loop *train.Loop, metrics []*tensors.Tensor) error {
		loss := math.NaN()
		if len(metrics) > 0 {
			loss = tensorFloat(metrics[0])
		}
		fmt.Fprintf(log, "step %d/%d: loss %.4f, %.1fs\n", loop.LoopStep+1, loop.EndStep, loss, time.Since(start).Seconds())
		return nil
	})
}

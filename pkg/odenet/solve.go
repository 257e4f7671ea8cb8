package odenet

import (
	"fmt"
	"math"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/losses"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/gosde/gosde/pkg/adjoint"
	"github.com/gosde/gosde/pkg/datasets/mnist"
	"github.com/gosde/gosde/pkg/diffeq"
)

// Absolute context scopes of the classifier's parts. The solved path
// (Options.Grad set) maps adjoint.Trainer's "encoder", "dynamics" and
// "decoder" scopes onto these, so both paths share variables and
// checkpoints.
const (
	stemScope     = "/downsample"
	dynamicsScope = "/odeblock/dynamics"
	headScope     = "/head"
)

// blockTimes are the save times of the ODE block: z(0) and z(1).
var blockTimes = []float64{0, 1}

// SolverOptions returns the diffeq options of the ODE block for the solved
// path: Dopri5 is adaptive with tolerances rtol and atol (each 1e-3 when 0);
// the other methods take cfg.Steps equal steps over [0, 1].
func SolverOptions(cfg Config, rtol, atol float64) (diffeq.Options, error) {
	if err := cfg.Validate(); err != nil {
		return diffeq.Options{}, err
	}
	if cfg.Model != ODENet {
		return diffeq.Options{}, fmt.Errorf("odenet: gradient methods direct/adjoint need the %s model, got %s", ODENet, cfg.Model)
	}
	if cfg.Method != diffeq.Dopri5 {
		return diffeq.Options{Method: cfg.Method, Dt: 1 / float64(cfg.Steps)}, nil
	}
	for _, v := range []struct {
		name string
		p    *float64
	}{{"rtol", &rtol}, {"atol", &atol}} {
		if *v.p == 0 {
			*v.p = 1e-3
		}
		if !(*v.p > 0) || math.IsInf(*v.p, 0) {
			return diffeq.Options{}, fmt.Errorf("odenet: %s must be finite and > 0, got %g", v.name, *v.p)
		}
	}
	return diffeq.Options{Method: diffeq.Dopri5, RTol: rtol, ATol: atol}, nil
}

// AdjointModel is the ODE-Net as an adjoint.Model with inputs (images
// (batch, 28, 28, 1), labels (batch, 1)): Encode is the stem flattened to
// z0 (batch, 64·6·6), ODE is Dynamics, and Loss is the head's mean
// cross-entropy on z(1). Its variables live in the same scopes as Logits'
// (downsample, odeblock/dynamics, head) whatever scope the caller gives.
// Train it with adjoint.NewTrainer(b, ctx, AdjointModel(), cfg) and any
// gradient method for ODEs (Direct, Checkpointed, Adjoint).
func AdjointModel() adjoint.Model {
	return adjoint.Model{
		Encode: func(ctx *context.Context, in []*graph.Node) (*graph.Node, []*graph.Node) {
			x := Downsample(ctx.InAbsPath(stemScope), in[0])
			return graph.Reshape(x, x.Shape().Dimensions[0], StateDim), nil
		},
		ODE: func(ctx *context.Context, t, z *graph.Node) *graph.Node {
			return Dynamics(ctx.InAbsPath(dynamicsScope), t, z)
		},
		Loss: func(ctx *context.Context, zs, in, _ []*graph.Node) *graph.Node {
			logits := headLogits(ctx, zs[len(zs)-1])
			return losses.SparseCategoricalCrossEntropyLogits([]*graph.Node{in[1]}, []*graph.Node{logits})
		},
		// Images and labels split by rows for data-parallel shards
		// (adjoint.TrainerConfig.Shards); the loss is a mean over rows.
		BatchAxes: []int{0, 0},
	}
}

// headLogits applies the head (in its absolute scope) to flattened states.
func headLogits(ctx *context.Context, z *graph.Node) *graph.Node {
	x := graph.Reshape(z, z.Shape().Dimensions[0], Side, Side, Channels)
	return Head(ctx.InAbsPath(headScope), x)
}

// trainSolved is Train for Options.Grad set: the ODE block is solved on the
// host by adjoint.Trainer (adaptive Dopri5 or fixed steps), with gradients
// by the adjoint method or by backpropagation through the unrolled solve.
func trainSolved(b backends.Backend, cfg Config, trainSet, testSet *mnist.Set, opts Options) (*Result, error) {
	solver, err := SolverOptions(cfg, opts.RTol, opts.ATol)
	if err != nil {
		return nil, err
	}
	ctx := NewContext(opts.Seed)
	res := &Result{Config: cfg, TrainLoss: math.NaN()}
	ckpts, err := res.resume(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	tr, err := adjoint.NewTrainer(b, ctx, AdjointModel(), adjoint.TrainerConfig{
		Method: opts.Grad, Solver: solver, Optimizer: newOptimizer(opts), CheckpointEvery: opts.AdjointCheckpointEvery, Shards: opts.Shards})
	if err != nil {
		return nil, err
	}
	ds, err := NewBatches(trainSet, opts.Batch, opts.Seed, res.ResumedFrom, true)
	if err != nil {
		return nil, err
	}
	target := opts.Epochs * ds.StepsPerEpoch()
	lastEpochStart := target - ds.StepsPerEpoch()
	if res.ResumedFrom > 0 {
		fmt.Fprintf(opts.Log, "resuming from step %d of %d (checkpoint in %s)\n", res.ResumedFrom, target, opts.OutDir)
	}
	var lossSum float64
	var lossN, fwd, bwd int
	start := time.Now()
	for step := res.ResumedFrom; step < target; step++ {
		_, in, labels, err := ds.Yield()
		if err != nil {
			return nil, fmt.Errorf("odenet: batch %d: %w", step, err)
		}
		loss, err := tr.Step([]*tensors.Tensor{in[0], labels[0]}, blockTimes)
		in[0].FinalizeAll()
		labels[0].FinalizeAll()
		if err != nil {
			return nil, fmt.Errorf("odenet: training step %d: %w", step+1, err)
		}
		nfe := tr.NFE()
		fwd += nfe.Forward
		bwd += nfe.Backward
		res.StepsRun++
		if err := ckpts.record(step+1, loss); err != nil {
			return nil, err
		}
		if step >= lastEpochStart {
			lossSum += loss
			lossN++
		}
		if opts.OnStep != nil {
			opts.OnStep(step+1, target, loss)
		}
		if opts.Progress && (res.StepsRun%10 == 0 || step+1 == target) {
			el := time.Since(start).Seconds()
			fmt.Fprintf(opts.Log, "step %d/%d: loss %.4f, NFE forward %d backward %d, %.1f images/s\n",
				step+1, target, loss, nfe.Forward, nfe.Backward, float64(res.StepsRun*opts.Batch)/el)
		}
		if (step+1)%opts.CheckpointEvery == 0 {
			if err := ckpts.save(ctx); err != nil {
				return nil, err
			}
		}
	}
	res.TrainSeconds = time.Since(start).Seconds()
	if res.StepsRun > 0 {
		res.TrainImagesSec = float64(res.StepsRun*opts.Batch) / res.TrainSeconds
		res.NFEForward = int(math.Round(float64(fwd) / float64(res.StepsRun)))
		res.NFEBackward = int(math.Round(float64(bwd) / float64(res.StepsRun)))
		if err := ckpts.save(ctx); err != nil {
			return nil, err
		}
	}
	err = res.finish(b, ctx, cfg, lossSum, lossN, testSet, func() (acc, loss float64, nfe int, err error) {
		return EvaluateSolved(b, ctx, tr, testSet, opts.EvalBatch)
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// newOptimizer returns opts' optimizer.
func newOptimizer(opts Options) optimizers.Interface {
	if opts.Optimizer == "sgd" {
		return Momentum{LR: opts.LR, Mu: 0.9}
	}
	return optimizers.Adam().LearningRate(opts.LR).Done()
}

// EvaluateSolved returns the accuracy and mean cross-entropy on set of the
// ODE-Net held by tr (variables in ctx), the block solved forward by tr's
// solver, in batches of batch images, and the mean NFE per batch.
func EvaluateSolved(b backends.Backend, ctx *context.Context, tr *adjoint.Trainer, set *mnist.Set, batch int) (accuracy, loss float64, nfe int, err error) {
	if batch < 1 {
		return 0, 0, 0, fmt.Errorf("odenet: evaluation batch must be ≥ 1, got %d", batch)
	}
	exec, err := context.NewExec(b, ctx.Checked(false), func(ctx *context.Context, z, labels *graph.Node) []*graph.Node {
		logits := headLogits(ctx, z)
		return evalOutputs(logits, labels)
	})
	if err != nil {
		return 0, 0, 0, fmt.Errorf("odenet: building evaluation: %w", err)
	}
	defer exec.Finalize()
	var nfeSum, batches int
	accuracy, loss, err = evalBatches(set, batch, func(x, y *tensors.Tensor) (float64, float64, error) {
		_, zs, err := tr.Eval([]*tensors.Tensor{x, y}, blockTimes)
		if err != nil {
			return 0, 0, fmt.Errorf("solving the ODE block: %w", err)
		}
		nfeSum += tr.NFE().Forward
		batches++
		out, err := exec.Exec(zs[len(zs)-1], y)
		if err != nil {
			return 0, 0, err
		}
		return tensorFloat(out[0]), tensorFloat(out[1]), nil
	})
	if err != nil {
		return 0, 0, 0, err
	}
	return accuracy, loss, int(math.Round(float64(nfeSum) / float64(batches))), nil
}

// evalOutputs returns the number of correct predictions and the mean
// cross-entropy of logits against labels (batch, 1).
func evalOutputs(logits, labels *graph.Node) []*graph.Node {
	pred := graph.ConvertDType(graph.ArgMax(logits, -1), labels.DType())
	correct := graph.ReduceAllSum(graph.ConvertDType(graph.Equal(pred, graph.Reshape(labels, -1)), logits.DType()))
	ce := losses.SparseCategoricalCrossEntropyLogits([]*graph.Node{labels}, []*graph.Node{logits})
	return []*graph.Node{correct, ce}
}

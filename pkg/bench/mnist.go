package bench

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/gosde/gosde/pkg/adjoint"
	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/datasets/mnist"
	"github.com/gosde/gosde/pkg/diffeq"
	"github.com/gosde/gosde/pkg/odenet"
)

// MNISTBatch is the batch size of the ODE-Net MNIST rows.
const MNISTBatch = 128

// mnistStepsPerRun is the number of training steps in one timed run of the
// MNIST rows (the NFE, and so the cost, differs from batch to batch).
const mnistStepsPerRun = 2

// MNISTTrain measures the ODE-Net MNIST rows: training steps of the ODE-Net
// of Chen et al. (2018) (pkg/odenet, 208,266 parameters) on real MNIST
// training images, batch 128, float32, Adam 1e-3, the ODE block solved by
// adaptive Dopri5 with rtol = atol = 1e-3 through adjoint.Trainer, with
// gradients by backpropagation through the solve (adjoint.Direct) or by the
// continuous adjoint (adjoint.Adjoint). Options.Warmup steps (compilation)
// run untimed first; each timed run is 2 steps. Options.Shards splits each
// batch into row blocks trained concurrently (adjoint.TrainerConfig.Shards,
// each block with its own Dopri5 step control; default: one per CPU on the
// pure-Go backend, 1 elsewhere). Value: training images/s (forward,
// backward and optimizer update); NFE: the mean forward + backward
// evaluations per batch over the timed steps, as adjoint.Trainer reports
// them.
func MNISTTrain(b backends.Backend, method adjoint.Method, o Options) (*Result, error) {
	return onTrainSet("bench.MNISTTrain", b, method, o, mnistTrain)
}

// onTrainSet runs row on the MNIST training set shipped with the GoMNIST
// module in batches of MNISTBatch, its errors prefixed by name.
func onTrainSet(name string, b backends.Backend, method adjoint.Method, o Options,
	row func(backends.Backend, adjoint.Method, *mnist.Set, int, Options) (*Result, error)) (*Result, error) {
	set, err := mnistTrainSet()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	r, err := row(b, method, set, MNISTBatch, o)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return r, nil
}

// mnistTrainSet loads the MNIST training set shipped with the GoMNIST module.
func mnistTrainSet() (*mnist.Set, error) {
	dir, err := mnist.DefaultDir()
	if err != nil {
		return nil, err
	}
	return mnist.LoadSet(dir, mnist.TrainImagesFile, mnist.TrainLabelsFile, true)
}

// mnistTrain is MNISTTrain on set with the given batch size.
func mnistTrain(b backends.Backend, method adjoint.Method, set *mnist.Set, batch int, o Options) (*Result, error) {
	if method != adjoint.Direct && method != adjoint.Adjoint {
		return nil, fmt.Errorf("method %q not supported (want %s or %s)", method, adjoint.Direct, adjoint.Adjoint)
	}
	name := "mnist"
	if method != adjoint.Direct {
		name = "mnistadj"
	}
	if method == adjoint.Direct && backend.OnAccelerator(b) {
		// As in LatentODE: the same gradient, compiled once (on XLA CPU the
		// unrolled graphs run 3x faster once compiled).
		method = adjoint.Checkpointed
	}
	o = o.withDefaults()
	cfg := odenet.Config{Model: odenet.ODENet, Method: diffeq.Dopri5, Steps: 1}
	solver, err := odenet.SolverOptions(cfg, 1e-3, 1e-3)
	if err != nil {
		return nil, err
	}
	ctx := odenet.NewContext(0)
	params, err := odenet.ParamCount(b, ctx, cfg)
	if err != nil {
		return nil, err
	}
	shards := min(o.shardsFor(b), batch)
	tr, err := adjoint.NewTrainer(b, ctx, odenet.AdjointModel(), adjoint.TrainerConfig{
		Method: method, Solver: solver, Optimizer: optimizers.Adam().LearningRate(1e-3).Done(), Shards: shards,
		ReusePlan: o.ReusePlan})
	if err != nil {
		return nil, err
	}
	ds, err := odenet.NewBatches(set, batch, 0, 0, true)
	if err != nil {
		return nil, err
	}
	r, fwd, bwd, loss, err := mnistTimed(b, name, tr, batch, o, func() (x, y *tensors.Tensor, err error) {
		_, in, labels, err := ds.Yield()
		if err != nil {
			return nil, nil, err
		}
		return in[0], labels[0], nil
	})
	if err != nil {
		return nil, err
	}
	r.Note = fmt.Sprintf("gradients: %s; %d parameters; batch %d in %d shard(s); %d steps per timed run, %d warm-up steps; "+
		"NFE per batch forward %.1f, backward %.1f (mean); last loss %.3f", method, params, batch, max(shards, 1), mnistStepsPerRun, o.Warmup, fwd, bwd, loss)
	if method == adjoint.Direct {
		r.Note += " (forward NFE: host Dopri5 solve + the unrolled graph's 1 + 6·padded steps; backward by autodiff)"
	}
	return r, nil
}

// mnistTimed takes o.Warmup untimed training steps of tr, then times
// o.Repeats runs of mnistStepsPerRun steps on the batches that next yields
// (freed after each step), and returns the row's result named name with
// the mean NFE per batch forward and backward and the last loss.
func mnistTimed(b backends.Backend, name string, tr *adjoint.Trainer, batch int, o Options, next func() (x, y *tensors.Tensor, err error)) (r *Result, fwd, bwd, loss float64, err error) {
	var nfe diffeq.NFE
	var steps int
	step := func() error {
		x, y, err := next()
		if err != nil {
			return err
		}
		defer func() {
			x.FinalizeAll()
			y.FinalizeAll()
		}()
		l, err := tr.Step([]*tensors.Tensor{x, y}, []float64{0, 1})
		if err != nil {
			return err
		}
		if math.IsNaN(l) || math.IsInf(l, 0) {
			return fmt.Errorf("loss %g is not finite", l)
		}
		n := tr.NFE()
		nfe.Forward += n.Forward
		nfe.Backward += n.Backward
		steps++
		loss = l
		return nil
	}
	for i := range o.Warmup {
		if err := step(); err != nil {
			return nil, 0, 0, 0, fmt.Errorf("warm-up step %d: %w", i+1, err)
		}
	}
	nfe, steps = diffeq.NFE{}, 0
	m, err := measure(Options{Repeats: o.Repeats, Warmup: -1}, float64(batch*mnistStepsPerRun), func() error {
		for range mnistStepsPerRun {
			if err := step(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, 0, 0, err
	}
	r = newResult(name, b)
	m.fill(r)
	fwd, bwd = float64(nfe.Forward)/float64(steps), float64(nfe.Backward)/float64(steps)
	r.NFE = int(math.Round(fwd + bwd))
	return r, fwd, bwd, loss, nil
}

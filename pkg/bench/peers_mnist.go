package bench

import (
	"fmt"
	"math/rand/v2"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/gosde/gosde/pkg/adjoint"
	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/datasets/mnist"
	"github.com/gosde/gosde/pkg/diffeq"
	"github.com/gosde/gosde/pkg/odenet"
)

// CropPad is the zero padding of the random crops of torchdiffeq's
// examples/odenet_mnist.py (RandomCrop(28, padding=4)).
const CropPad = 4

// RandomCrops returns the images idx of set as float32 values in [0, 1]
// (pixel/255, as the example's ToTensor), each shifted by a random offset
// in [−CropPad, CropPad]² with zeros filling in: a 28×28 crop of the image
// zero-padded by CropPad on every side. Shape (len(idx), rows, cols, 1).
func RandomCrops(set *mnist.Set, idx []int, rng *rand.Rand) (*tensors.Tensor, error) {
	if set == nil || rng == nil {
		return nil, fmt.Errorf("bench.RandomCrops: set and rng must not be nil")
	}
	rows, cols := set.Rows, set.Cols
	px := make([]float32, len(idx)*rows*cols)
	for i, k := range idx {
		if k < 0 || k >= set.N {
			return nil, fmt.Errorf("bench.RandomCrops: idx[%d] = %d out of [0, %d)", i, k, set.N)
		}
		img := set.Image(k)
		dy, dx := rng.IntN(2*CropPad+1)-CropPad, rng.IntN(2*CropPad+1)-CropPad
		out := px[i*rows*cols : (i+1)*rows*cols]
		for r := range rows {
			sr := r + dy
			if sr < 0 || sr >= rows {
				continue
			}
			for c := range cols {
				if sc := c + dx; sc >= 0 && sc < cols {
					out[r*cols+c] = float32(img[sr*cols+sc]) / 255
				}
			}
		}
	}
	return tensors.FromFlatDataAndDimensions(px, len(idx), rows, cols, 1), nil
}

// MNISTExample measures the ODE-Net MNIST training step at the setting of
// torchdiffeq's examples/odenet_mnist.py: SGD with learning rate 0.1 and
// momentum 0.9 (odenet.Momentum), inputs in [0, 1] with random crops
// (RandomCrops), shuffled batches of 128; the model, Dopri5 rtol = atol =
// 1e-3 and the gradient methods as MNISTTrain. Value: images/s.
func MNISTExample(b backends.Backend, method adjoint.Method, o Options) (*Result, error) {
	return onTrainSet("bench.MNISTExample", b, method, o, mnistExample)
}

// mnistExample is MNISTExample on set with the given batch size.
func mnistExample(b backends.Backend, method adjoint.Method, set *mnist.Set, batch int, o Options) (*Result, error) {
	name := "mnist-ex"
	switch method {
	case adjoint.Adjoint:
		name = "mnistadj-ex"
	case adjoint.Direct:
		if backend.OnAccelerator(b) {
			method = adjoint.Checkpointed // the same gradient, compiled once (as MNISTTrain)
		}
	default:
		return nil, fmt.Errorf("method %q not supported (want %s or %s)", method, adjoint.Direct, adjoint.Adjoint)
	}
	if batch < 1 || batch > set.N {
		return nil, fmt.Errorf("batch must be in [1, %d], got %d", set.N, batch)
	}
	o = o.withDefaults()
	cfg := odenet.Config{Model: odenet.ODENet, Method: diffeq.Dopri5, Steps: 1}
	solver, err := odenet.SolverOptions(cfg, 1e-3, 1e-3)
	if err != nil {
		return nil, err
	}
	ctx := odenet.NewContext(0)
	shards := min(o.shardsFor(b), batch)
	tr, err := adjoint.NewTrainer(b, ctx, odenet.AdjointModel(), adjoint.TrainerConfig{
		Method: method, Solver: solver, Optimizer: odenet.Momentum{LR: 0.1, Mu: 0.9}, Shards: shards, ReusePlan: o.ReusePlan})
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(0, 0xc209))
	order, pos := rng.Perm(set.N), 0
	r, fwd, bwd, loss, err := mnistTimed(b, name, tr, batch, o, func() (x, y *tensors.Tensor, err error) {
		if pos+batch > len(order) {
			order, pos = rng.Perm(set.N), 0
		}
		idx := order[pos : pos+batch]
		pos += batch
		if x, err = RandomCrops(set, idx, rng); err != nil {
			return nil, nil, err
		}
		ls := make([]int32, batch)
		for i, k := range idx {
			ls[i] = int32(set.Labels[k])
		}
		return x, tensors.FromFlatDataAndDimensions(ls, batch, 1), nil
	})
	if err != nil {
		return nil, err
	}
	r.Note = fmt.Sprintf("gradients: %s; SGD 0.1 momentum 0.9, inputs in [0, 1], random crops; batch %d in %d shard(s); %d steps per timed run; "+
		"NFE per batch forward %.1f, backward %.1f (mean); last loss %.3f", method, batch, shards, mnistStepsPerRun, fwd, bwd, loss)
	return r, nil
}

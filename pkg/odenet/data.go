package odenet

import (
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gosde/gosde/pkg/datasets/mnist"
)

// MNIST normalisation constants (the training set's pixel mean and standard
// deviation on the [0, 1] scale), as in the reference.
const (
	PixelMean = 0.1307
	PixelStd  = 0.3081
)

// Normalize writes the images with the given indices of set into dst
// (len(idx)·784 values) as (pixel/255 − PixelMean)/PixelStd.
func Normalize(dst []float32, set *mnist.Set, idx []int) {
	n := set.Rows * set.Cols
	var lut [256]float32
	for v := range lut {
		lut[v] = float32((float64(v)/255 - PixelMean) / PixelStd)
	}
	for i, k := range idx {
		img := set.Image(k)
		out := dst[i*n : (i+1)*n]
		for j, p := range img {
			out[j] = lut[p]
		}
	}
}

// Batches is a train.Dataset over an MNIST set: batches of a fixed size in an
// order reshuffled every epoch (seeded, so a run can resume at any step);
// the last batch of an epoch is completed with the first images of the
// epoch's order, so every batch has the same shape. It yields inputs
// [images (batch, 28, 28, 1) float32] and labels [(batch, 1) int32].
type Batches struct {
	set       *mnist.Set
	batch     int
	seed      uint64
	step      int // next step (global), determines epoch and position
	perEpoch  int
	order     []int
	epochOf   int
	infinite  bool
	epochDone bool
}

// NewBatches returns a Batches over set with the given batch size and seed,
// starting at the given global step. If infinite is false, Yield returns
// io.EOF at the end of each epoch (call Reset to start the next).
func NewBatches(set *mnist.Set, batch int, seed uint64, startStep int, infinite bool) (*Batches, error) {
	if batch < 1 {
		return nil, fmt.Errorf("odenet: batch size must be ≥ 1, got %d", batch)
	}
	if set == nil || set.N == 0 {
		return nil, fmt.Errorf("odenet: empty training set")
	}
	if set.Rows != 28 || set.Cols != 28 {
		return nil, fmt.Errorf("odenet: images must be 28×28, got %d×%d", set.Rows, set.Cols)
	}
	per := (set.N + batch - 1) / batch
	return &Batches{set: set, batch: batch, seed: seed, step: startStep, perEpoch: per, epochOf: -1, infinite: infinite}, nil
}

// StepsPerEpoch is ceil(N / batch).
func (b *Batches) StepsPerEpoch() int { return b.perEpoch }

// Name implements train.Dataset.
func (b *Batches) Name() string { return "mnist-train" }

// Reset implements train.Dataset: it allows the next epoch to start.
func (b *Batches) Reset() { b.epochDone = false }

// Yield implements train.Dataset.
func (b *Batches) Yield() (spec any, inputs, labels []*tensors.Tensor, err error) {
	if b.epochDone {
		return nil, nil, nil, io.EOF
	}
	epoch, pos := b.step/b.perEpoch, b.step%b.perEpoch
	if epoch != b.epochOf {
		b.order = make([]int, b.set.N)
		for i := range b.order {
			b.order[i] = i
		}
		r := rand.New(rand.NewPCG(b.seed, uint64(epoch)))
		r.Shuffle(len(b.order), func(i, j int) { b.order[i], b.order[j] = b.order[j], b.order[i] })
		b.epochOf = epoch
	}
	idx := make([]int, b.batch)
	for i := range idx {
		idx[i] = b.order[(pos*b.batch+i)%b.set.N]
	}
	b.step++
	if !b.infinite && b.step%b.perEpoch == 0 {
		b.epochDone = true
	}
	x, y := batchTensors(b.set, idx)
	return nil, []*tensors.Tensor{x}, []*tensors.Tensor{y}, nil
}

// batchTensors returns the normalised images and the labels of idx.
func batchTensors(set *mnist.Set, idx []int) (images, labels *tensors.Tensor) {
	px := make([]float32, len(idx)*set.Rows*set.Cols)
	Normalize(px, set, idx)
	ls := make([]int32, len(idx))
	for i, k := range idx {
		ls[i] = int32(set.Labels[k])
	}
	return tensors.FromFlatDataAndDimensions(px, len(idx), set.Rows, set.Cols, 1),
		tensors.FromFlatDataAndDimensions(ls, len(idx), 1)
}

package spirals

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/gomlx/gomlx/backends"

	"github.com/gosde/gosde/pkg/adjoint"
	data "github.com/gosde/gosde/pkg/datasets/spirals"
	"github.com/gosde/gosde/pkg/diffeq"
)

// BenchConfig returns the setting of torchdiffeq's examples/latent_ode.py
// with the given gradient method: latent dimension 4, ODE MLP with 20
// hidden units (two ELU layers), tanh RNN encoder with 25 hidden units,
// decoder MLP with 20 hidden units (ReLU), the vector field initialised as
// PyTorch initialises nn.Linear (its NFE depends on it), 1000 spirals, every training
// step on all 1000 of them with 100 regularly spaced samples each (1000
// points per spiral on [0, 6π], as there), and Dopri5 with rtol 1e-7, atol
// 1e-9 (torchdiffeq's defaults), stepping over the samples with dense
// output as torchdiffeq does. (Our RNN also reads the time gap to the next
// sample, a constant here.)
func BenchConfig(method adjoint.Method) Config {
	return Config{
		Data:     data.Config{N: 1000, Points: 1000, TMax: 6 * math.Pi, NoiseStd: 0.3},
		Model:    ModelConfig{Latent: 4, Hidden: 20, ODELayers: 2, RNNHidden: 25, Encoder: "rnn", DecoderHidden: 20, FieldInit: "torch", ObsStd: 0.3},
		Solver:   SolverConfig{Method: method, Solver: diffeq.Dopri5, RTol: 1e-7, ATol: 1e-9},
		Batch:    1000,
		Span:     100,
		Keep:     []int{100},
		LR:       0.01,
		Iters:    1,
		SkipEval: true,
	}
}

// BenchStepper sets cfg up and returns a function that takes one training
// step on a fresh batch, and one that returns the vector-field evaluations
// of the last step. The first steps compile the graphs (one per padded
// Dopri5 step count with the direct method).
func BenchStepper(b backends.Backend, cfg Config) (step func() error, nfe func() diffeq.NFE, err error) {
	res, err := Setup(b, cfg)
	if err != nil {
		return nil, nil, err
	}
	c := res.Config
	rng := rand.New(rand.NewPCG(c.Seed, 0xbe4c))
	opts := data.SampleOptions{Span: c.Span, Keep: c.Keep}
	step = func() error {
		batch, err := res.Train.Sample(rng, min(c.Batch, res.Train.Len()), opts)
		if err != nil {
			return err
		}
		_, err = res.Learner.Step(batch, rng)
		return err
	}
	return step, res.Learner.NFE, nil
}

// BenchStep sets up cfg, takes one untimed step (compilation) and then
// times steps training steps on fresh batches. It returns the training
// iterations per second and the vector-field evaluations of the last step.
func BenchStep(b backends.Backend, cfg Config, steps int) (itPerSec float64, nfe diffeq.NFE, err error) {
	if steps < 1 {
		return 0, nfe, fmt.Errorf("spirals.BenchStep: steps must be ≥ 1, got %d", steps)
	}
	step, nfeOf, err := BenchStepper(b, cfg)
	if err != nil {
		return 0, nfe, err
	}
	if err := step(); err != nil {
		return 0, nfe, err
	}
	start := time.Now()
	for range steps {
		if err := step(); err != nil {
			return 0, nfe, err
		}
	}
	return float64(steps) / time.Since(start).Seconds(), nfeOf(), nil
}

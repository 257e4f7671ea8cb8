package bench

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"

	"github.com/gosde/gosde/pkg/adjoint"
	"github.com/gosde/gosde/pkg/diffeq"
	"github.com/gosde/gosde/pkg/experiments/spirals"
	"github.com/gosde/gosde/pkg/latentsde"
)

// PeerRows returns the row variants that benchmarks/peers runs beside the
// peers (`make bench-peers`): the latent SDE, latent ODE and MNIST rows at
// the settings of torchsde's examples/latent_sde.py and torchdiffeq's
// examples/latent_ode.py and odenet_mnist.py as those files run by default
// (names ending in "-ex"), and the OU KL check with 101 save times, where gosde's grid and
// torchsde's both take 1000 steps. `gosde bench --rows` accepts their names;
// `--rows all` leaves them out.
func PeerRows() []Row {
	return []Row{
		{Name: "latsde-ex", Work: "latent SDE training step (backprop through solver)", Unit: "it/s",
			Setting: "as latsde on torchsde examples/latent_sde.py's data: cos(2πt) at 10 times on [0.3, 0.8] and 10 on [1.2, 1.5], " +
				"solved on [0, 2] with t = 0 and 2 left out of the likelihood (the grid hits all 22 times: 210 Euler steps)",
			AnchorName: "torchsde", Run: func(b backends.Backend, o Options) (*Result, error) {
				return LatentSDEExample(b, adjoint.Direct, o)
			}},
		{Name: "latsdeadj-ex", Work: "latent SDE training step (adjoint)", Unit: "it/s",
			Setting:    "as latsde-ex, stochastic adjoint",
			AnchorName: "torchsde", Run: func(b backends.Backend, o Options) (*Result, error) {
				return LatentSDEExample(b, adjoint.Adjoint, o)
			}},
		{Name: "latode-ex", Work: "latent ODE training step (direct)", Unit: "it/s",
			Setting: "as latode at torchdiffeq examples/latent_ode.py's default ntotal: 500 points on [0, 6π] " +
				"(100 samples span [0, 3.74]), 1000 training spirals per step",
			AnchorName: "torchdiffeq", Run: func(b backends.Backend, o Options) (*Result, error) {
				return latentODE(b, adjoint.Direct, o, "latode-ex", latentODEExample)
			}},
		{Name: "latodeadj-ex", Work: "latent ODE training step (adjoint)", Unit: "it/s",
			Setting:    "as latode-ex, adjoint gradients",
			AnchorName: "torchdiffeq", Run: func(b backends.Backend, o Options) (*Result, error) {
				return latentODE(b, adjoint.Adjoint, o, "latodeadj-ex", latentODEExample)
			}},
		{Name: "mnist-ex", Work: "ODE-Net MNIST training (direct)", Unit: "images/s",
			Setting:    "as mnist at torchdiffeq examples/odenet_mnist.py's setting: SGD 0.1 momentum 0.9, inputs in [0, 1], random crops of the image padded by 4",
			AnchorName: "torchdiffeq", Run: func(b backends.Backend, o Options) (*Result, error) {
				return MNISTExample(b, adjoint.Direct, o)
			}},
		{Name: "mnistadj-ex", Work: "ODE-Net MNIST training (adjoint)", Unit: "images/s",
			Setting:    "as mnist-ex, adjoint gradients",
			AnchorName: "torchdiffeq", Run: func(b backends.Backend, o Options) (*Result, error) {
				return MNISTExample(b, adjoint.Adjoint, o)
			}},
		{Name: "oukl1000", Work: "OU KL check", Unit: "s",
			Setting:    "as oukl with 101 save times (linspace(0, 1, 101)): 1000 Euler steps, as torchsde takes",
			AnchorName: "torchsde", Run: func(b backends.Backend, o Options) (*Result, error) {
				return ouKL(b, o, "oukl1000", 101)
			}},
	}
}

// latentODEExample sets a spirals.BenchConfig to torchdiffeq's
// examples/latent_ode.py as it runs: its generator's default ntotal = 500
// points on [0, 6π] (the script never passes its own ntotal = 1000), and
// all 1000 spirals in every step (1002 generated, every 1000th held out).
func latentODEExample(c *spirals.Config) {
	c.Data.Points = 500
	c.Data.N = 1002
	c.HeldOutFrac = 1e-3
	c.Batch = 1000
}

// SegmentedCosineData returns torchsde's examples/latent_sde.py default data
// for batch rows: cos(2πt) at 10 equally spaced times on [0.3, 0.8] and 10
// on [1.2, 1.5], with t = 0 and t = 2 added to the time grid and masked out
// of the likelihood, as the example's ts_ext and zs[1:-1] do (every row is
// the same sequence: the batch samples the posterior).
func SegmentedCosineData(batch int) (latentsde.Data, error) {
	if batch < 1 {
		return latentsde.Data{}, fmt.Errorf("bench.SegmentedCosineData: batch must be ≥ 1, got %d", batch)
	}
	ts := []float64{0}
	for _, seg := range [][2]float64{{0.3, 0.8}, {1.2, 1.5}} {
		for i := range 10 {
			ts = append(ts, seg[0]+(seg[1]-seg[0])*float64(i)/9)
		}
	}
	ts = append(ts, 2)
	x := make([]float64, 0, batch*len(ts))
	mask := make([]float64, 0, batch*len(ts))
	for range batch {
		for i, t := range ts {
			x = append(x, math.Cos(2*math.Pi*t))
			if i == 0 || i == len(ts)-1 {
				mask = append(mask, 0)
			} else {
				mask = append(mask, 1)
			}
		}
	}
	return latentsde.Data{Ts: ts,
		X:    diffeq.FromFloat64s(dtypes.Float32, x, batch, len(ts), 1),
		Mask: diffeq.FromFloat64s(dtypes.Float32, mask, batch, len(ts), 1)}, nil
}

// LatentSDEExample measures the latent SDE training step on torchsde's
// example data (SegmentedCosineData, batch 512) with latentsde's
// BenchmarkConfig model, Adam 1e-2 and the KL warm-up over 100 steps, by
// backprop through the Euler–Maruyama solve (adjoint.Direct) or the
// stochastic adjoint (adjoint.Adjoint), with latentsde.BenchmarkSplit's
// chunks and shards, as LatentSDE. Value: it/s; NFE: Euler steps of the grid.
func LatentSDEExample(b backends.Backend, method adjoint.Method, o Options) (*Result, error) {
	name := "latsde-ex"
	if method != adjoint.Direct {
		name = "latsdeadj-ex"
	}
	step, steps, err := latentSDEStep(b, method, 512)
	if err != nil {
		return nil, fmt.Errorf("bench.LatentSDEExample: %w", err)
	}
	m, err := measure(o, 1, step)
	if err != nil {
		return nil, fmt.Errorf("bench.LatentSDEExample: %w", err)
	}
	r := newResult(name, b)
	m.fill(r)
	r.NFE = steps
	r.Note = fmt.Sprintf("gradients: %s; %d Euler steps; Adam 1e-2 constant (the example decays it by 0.999 a step)", method, steps)
	return r, nil
}

// latentSDEStep returns one training step on SegmentedCosineData(batch)
// and the number of Euler steps of its grid.
func latentSDEStep(b backends.Backend, method adjoint.Method, batch int) (func() error, int, error) {
	data, err := SegmentedCosineData(batch)
	if err != nil {
		return nil, 0, err
	}
	cfg := latentsde.BenchmarkConfig()
	m, err := latentsde.New(cfg)
	if err != nil {
		return nil, 0, err
	}
	grid, _, err := m.Grid(data.Ts)
	if err != nil {
		return nil, 0, err
	}
	chunk, shards := latentsde.BenchmarkSplit(b)
	kl := latentsde.LinearWarmup{Max: 1, Steps: 100}
	switch method {
	case adjoint.Direct:
		tr, err := latentsde.NewTrainer(b, nil, m, latentsde.TrainConfig{LearningRate: 1e-2, Schedule: kl, Chunk: chunk, Shards: shards})
		if err != nil {
			return nil, 0, err
		}
		return func() error { _, err := tr.Step(data); return err }, len(grid) - 1, nil
	case adjoint.Adjoint:
		tr, err := adjoint.NewTrainer(b, nil, m.AdjointModel(data.Ts), adjoint.TrainerConfig{Method: method,
			Solver: diffeq.Options{Dt: cfg.Dt, Method: diffeq.EulerMaruyama}, Shards: shards})
		if err != nil {
			return nil, 0, err
		}
		var n uint64
		return func() error {
			in, err := m.AdjointInputs(data, kl.Weight(int(n)), 0, n)
			if err != nil {
				return err
			}
			n++
			_, err = tr.Step(in, data.Ts)
			return err
		}, len(grid) - 1, nil
	}
	return nil, 0, fmt.Errorf("method %q not supported (want %s or %s)", method, adjoint.Direct, adjoint.Adjoint)
}

package latentsde

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/datasets/ou"
	"github.com/gosde/gosde/pkg/diffeq"
)

// TestLogqpConstantDrifts: with f − h = c and g = σ constant, the path term
// is c²T/(2σ²) on every path, whatever the noise; with g = 0 the floor is used.
func TestLogqpConstantDrifts(t *testing.T) {
	const c, sigma, T = 1.5, 0.4, 2.0
	constant := func(v float64) diffeq.Func {
		return func(_ *context.Context, _, z *Node) *Node {
			return graph.BroadcastToShape(graph.Scalar(z.Graph(), z.DType(), v), z.Shape())
		}
	}
	for _, tc := range []struct {
		g, want float64
	}{{sigma, c * c * T / (2 * sigma * sigma)}, {0, c * c * T / (2 * 1e-3 * 1e-3)}} {
		s, err := NewLogqpSolver(testBackend(), nil, PosteriorPrior{Posterior: constant(c + 0.25), Prior: constant(0.25), Diffusion: constant(tc.g)}, diffeq.Options{Dt: 0.1})
		if err != nil {
			t.Fatal(err)
		}
		sol, err := s.Solve(diffeq.FromFloat64s(dtypes.Float64, []float64{0, 1, 2, 3, 4, 5}, 3, 2), []float64{0, 0.5, T}, 3)
		if err != nil {
			t.Fatal(err)
		}
		for p, l := range sol.Logqp[2] {
			// two latent dimensions: twice the one-dimensional value.
			if math.Abs(l-2*tc.want) > 1e-9*tc.want {
				t.Errorf("g=%g path %d: logqp %g, want %g", tc.g, p, l, 2*tc.want)
			}
		}
	}
}

func ouData(t *testing.T, n int, ts []float64) Data {
	t.Helper()
	p := ou.Process{Theta: 2, Mu: 0.5, Sigma: 0.3, Z0Mean: -0.5, Z0Std: 0.1}
	paths, err := p.Simulate(ts, n, 11)
	if err != nil {
		t.Fatal(err)
	}
	flat := make([]float64, 0, n*len(ts))
	for _, path := range paths {
		flat = append(flat, path...)
	}
	return Data{Ts: ts, X: diffeq.FromFloat64s(dtypes.Float32, flat, n, len(ts), 1)}
}

// TestTrainAndResume: the loss falls over a few steps, and a trainer
// restored from a checkpoint takes the same next step as the original.
func TestTrainAndResume(t *testing.T) {
	m, err := New(Config{DataDim: 1, LatentDim: 2, ContextDim: 4, Hidden: []int{16}, EncoderHidden: 8, DiffusionHidden: 4, Dt: 0.1, ObsScale: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	data := ouData(t, 16, MustLinspace(0, 1, 6))
	tr, err := NewTrainer(testBackend(), nil, m, TrainConfig{LearningRate: 1e-2, Schedule: ConstantKL(1), Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	var first, last StepStats
	for i := 0; i < 30; i++ {
		st, err := tr.Step(data)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = st
		}
		last = st
	}
	t.Logf("first %+v\nlast %+v", first, last)
	if !(last.Loss < first.Loss-0.5*math.Abs(first.Loss)) {
		t.Errorf("loss did not fall: %g → %g", first.Loss, last.Loss)
	}
	path := filepath.Join(t.TempDir(), "ck.bin")
	if err := tr.Save(path); err != nil {
		t.Fatal(err)
	}
	tr2, err := NewTrainer(testBackend(), nil, m, TrainConfig{LearningRate: 1e-2, Schedule: ConstantKL(1), Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr2.Load(path); err != nil {
		t.Fatal(err)
	}
	if tr2.GlobalStep() != 30 {
		t.Errorf("restored step %d, want 30", tr2.GlobalStep())
	}
	a, err := tr.Step(data)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tr2.Step(data)
	if err != nil {
		t.Fatal(err)
	}
	if a.Loss != b.Loss || a.KL != b.KL {
		t.Errorf("resumed step differs: %+v vs %+v", a, b)
	}
	obs, lat, err := tr.SamplePrior(5, MustLinspace(0, 2, 5), 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(obs) != 5 || len(obs[0]) != 5 || len(lat[0]) != 10 {
		t.Errorf("SamplePrior shapes: %d×%d, latents %d", len(obs), len(obs[0]), len(lat[0]))
	}
	obs, _, err = tr.SamplePosterior(data, MustLinspace(0, 1.5, 7), 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(obs) != 16 || len(obs[0]) != 7 {
		t.Errorf("SamplePosterior shapes: %d×%d", len(obs), len(obs[0]))
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{
		{},
		{DataDim: 1, LatentDim: 1, Hidden: []int{0}},
		{DataDim: 1, LatentDim: 1, Dt: math.NaN()},
		{DataDim: 1, LatentDim: 1, OUPrior: &OUPrior{Theta: 0, Sigma: 1}},
		{DataDim: 1, LatentDim: 1, Likelihood: "poisson"},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v): want an error", c)
		}
	}
	if _, err := OUKLCheck(testBackend(), OUKLConfig{Pair: ReferenceOUPair, Paths: 1}); err == nil {
		t.Error("OUKLCheck with 1 path: want an error")
	}
	m, _ := New(Config{DataDim: 2, LatentDim: 1})
	tr, _ := NewTrainer(testBackend(), nil, m, TrainConfig{})
	if _, err := tr.Step(ouData(t, 2, []float64{0, 1})); err == nil {
		t.Error("Step with DataDim 1 data for a DataDim 2 model: want an error")
	}
}

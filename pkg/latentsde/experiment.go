package latentsde

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/gomlx/pkg/core/dtypes"

	"github.com/gosde/gosde/pkg/datasets/ou"
	"github.com/gosde/gosde/pkg/diffeq"
	"github.com/gosde/gosde/pkg/nn"
)

// OUData simulates n exact paths of the OU process p at the times ts and
// returns them as training data with Gaussian observation noise of std
// obsNoise (DataDim 1, all observed), along with the noiseless paths.
func OUData(p ou.Process, ts []float64, n int, obsNoise float64, seed uint64, dtype dtypes.DType) (Data, [][]float64, error) {
	if obsNoise < 0 || math.IsNaN(obsNoise) || math.IsInf(obsNoise, 0) {
		return Data{}, nil, fmt.Errorf("latentsde.OUData: obsNoise must be finite and ≥ 0, got %g", obsNoise)
	}
	paths, err := p.Simulate(ts, n, seed)
	if err != nil {
		return Data{}, nil, fmt.Errorf("latentsde.OUData: %w", err)
	}
	r := rand.New(rand.NewPCG(seed, 0x6f6273))
	flat := make([]float64, 0, n*len(ts))
	for _, path := range paths {
		for _, z := range path {
			flat = append(flat, z+obsNoise*r.NormFloat64())
		}
	}
	return Data{Ts: append([]float64(nil), ts...), X: diffeq.FromFloat64s(dtype, flat, n, len(ts), 1)}, paths, nil
}

// MomentRow compares, at one time, the mean and standard deviation of
// sampled paths with the true ones.
type MomentRow struct {
	T                  float64 `json:"t"`
	Mean, TrueMean     float64
	Std, TrueStd       float64
	MeanErr, StdErrAbs float64 // |Mean − TrueMean|, |Std − TrueStd|
}

// CompareMoments returns, for each time ts[k], the sample mean and standard
// deviation over paths[i][k] against the OU process's exact moments.
func CompareMoments(p ou.Process, ts []float64, paths [][]float64) ([]MomentRow, error) {
	if len(paths) < 2 {
		return nil, fmt.Errorf("latentsde.CompareMoments: need ≥ 2 paths, got %d", len(paths))
	}
	rows := make([]MomentRow, len(ts))
	for k, t := range ts {
		col := make([]float64, len(paths))
		for i, path := range paths {
			if len(path) != len(ts) {
				return nil, fmt.Errorf("latentsde.CompareMoments: paths[%d] has %d values, want %d", i, len(path), len(ts))
			}
			col[i] = path[k]
		}
		mean, se := MeanStderr(col)
		std := se * math.Sqrt(float64(len(col)))
		tm, ts := p.Mean(t-ts[0]), math.Sqrt(p.Variance(t-ts[0]))
		rows[k] = MomentRow{T: t, Mean: mean, TrueMean: tm, Std: std, TrueStd: ts,
			MeanErr: math.Abs(mean - tm), StdErrAbs: math.Abs(std - ts)}
	}
	return rows, nil
}

// BenchmarkConfig is the setting of torchsde's examples/latent_sde.py: a
// one-dimensional latent SDE with a fixed OU prior (θ = 1, μ = 0, σ = 0.5),
// posterior drift MLP(sin t, cos t, z) with two hidden layers of 200 tanh
// units, no encoder (q(z0) learned), a Laplace likelihood (scale 0.05),
// Euler–Maruyama with dt = 1e-2 over t ∈ [0, 2] (200 steps, 201 grid
// points).
func BenchmarkConfig() Config {
	return Config{
		DataDim: 1, LatentDim: 1, Hidden: []int{200, 200}, Activation: nn.Tanh,
		TimeFeatures: true, OUPrior: &OUPrior{Theta: 1, Mu: 0, Sigma: 0.5},
		Likelihood: Laplace, ObsScale: 0.05, Dt: 1e-2, DType: dtypes.Float32,
	}
}

// BenchmarkData returns the benchmark's data: batch copies of torchsde's
// irregular sine-like observations (times in [0, 2], values
// 0.5·sin(2πt/2)+0.2 at 10 irregular times; the example's batch dimension
// samples the posterior, so every row is the same sequence).
func BenchmarkData(batch int) Data {
	ts := []float64{0, 0.3, 0.5, 0.7, 0.9, 1.1, 1.2, 1.5, 1.7, 2.0}
	flat := make([]float64, 0, batch*len(ts))
	for range batch {
		for _, t := range ts {
			flat = append(flat, 0.5*math.Sin(math.Pi*t)+0.2)
		}
	}
	return Data{Ts: ts, X: diffeq.FromFloat64s(dtypes.Float32, flat, batch, len(ts), 1)}
}

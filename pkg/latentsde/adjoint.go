package latentsde

import (
	"fmt"
	"math/rand/v2"
	"runtime"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/adjoint"
	"github.com/gosde/gosde/pkg/diffeq"
)

// AdjointModel returns the latent SDE as an adjoint.Model, so that
// adjoint.Trainer can train it with the stochastic adjoint (or its direct
// or reversible methods). The observation times obsTs are fixed.
//
// The solve's state is [z, logqp, context] (batch, LatentDim + 1 +
// ContextDim): the KL path term rides along as in LogqpSolver, and the
// encoder's context (the one after the first observation, summarising the
// whole sequence) is carried as extra state with zero drift and diffusion,
// so the adjoint's dL/dz0 contains dL/dcontext and the encoder gets its
// gradient through Encode's vector–Jacobian product. (The direct Trainer
// instead switches the context at every observation time.)
//
// The trainer's inputs are [X, Mask, eps0, klWeight]: X and Mask
// (batch, len(obsTs), DataDim), eps0 (batch, LatentDim) standard normal for
// z0 ~ q(z0), klWeight a scalar. The loss is the negative weighted ELBO.
// The adjoint converts the Ito SDE to Stratonovich and solves it with Heun
// by default, so the path term is integrated with Heun's (trapezoidal)
// rule. With an OUPrior the noise is declared additive (the diffusion is
// the constant σ), so the adjoint's Euler–Maruyama method applies too: the
// left-point rule of the direct Trainer.
func (m *Model) AdjointModel(obsTs []float64) adjoint.Model {
	ts := append([]float64(nil), obsTs...)
	d, cd := m.cfg.LatentDim, m.cfg.ContextDim
	width := d + 1 + cd
	// The state is split and assembled with constant 0/1 matrices instead
	// of Slice and Concatenate, whose gradients of gradients (Pad) GoMLX
	// does not define.
	parts := func(za *Node) (z, l, c *Node) {
		z = graph.Dot(za, selector(za, width, 0, d))
		l = graph.Reshape(graph.Dot(za, selector(za, width, d, 1)), za.Shape().Dimensions[0])
		if cd > 0 {
			c = graph.Dot(za, selector(za, width, d+1, cd))
		}
		return z, l, c
	}
	// embed places x (batch, n) at columns from … from+n−1 of a (batch, width) state.
	embed := func(x *Node, from int) *Node {
		return graph.Dot(x, graph.Transpose(selector(x, width, from, x.Shape().Dimensions[1]), 0, 1))
	}
	sde := diffeq.SDE{
		Drift: func(ctx *context.Context, t, za *Node) *Node {
			z, _, c := parts(za)
			rate, f, _ := LogqpRate(ctx, m.sde(c), t, z)
			return graph.Add(embed(f, 0), embed(graph.ExpandAxes(rate, -1), d))
		},
		Diffusion: func(ctx *context.Context, t, za *Node) *Node {
			z, _, _ := parts(za)
			return embed(m.Diffusion(ctx, t, z), 0)
		},
		Noise: diffeq.Diagonal, Type: diffeq.Ito,
	}
	if m.cfg.OUPrior != nil {
		// The diffusion is the constant σ: additive noise, which the
		// adjoint can also solve with Euler–Maruyama.
		sde.Noise = diffeq.Additive
	}
	return adjoint.Model{
		Encode: func(ctx *context.Context, in []*Node) (*Node, []*Node) {
			obs := Observations{X: in[0], Mask: in[1], Ts: ts}
			contexts, qm, qlv := m.encode(ctx, obs, false)
			pm, plv := m.PriorZ0(ctx, in[0].Graph())
			kl0 := GaussianKL(qm, qlv, pm, plv)
			za := embed(Sample0(qm, qlv, in[2]), 0)
			if cd > 0 {
				za = graph.Add(za, embed(contexts[0], d+1))
			}
			return za, []*Node{kl0}
		},
		SDE: &sde,
		Loss: func(ctx *context.Context, zs, in, extras []*Node) *Node {
			lat := make([]*Node, len(zs))
			for i, za := range zs {
				lat[i], _, _ = parts(za)
			}
			ll, err := m.LogLikelihood(ctx, Observations{X: in[0], Mask: in[1], Ts: ts}, lat)
			if err != nil {
				panic(err)
			}
			_, logqp, _ := parts(zs[len(zs)-1])
			return ELBO(ll, graph.Add(extras[0], logqp), in[3]).Loss
		},
		// X, Mask and eps0 are batched; the KL weight is shared. The loss
		// is a batch mean, as TrainerConfig.Shards requires.
		BatchAxes: []int{0, 0, 0, -1},
	}
}

// AdjointInputs returns the adjoint trainer's inputs for data and KL
// weight w, with eps0 drawn from (seed, step).
func (m *Model) AdjointInputs(data Data, w float64, seed, step uint64) ([]*tensors.Tensor, error) {
	return adjointInputs(data, m.cfg, m.cfg.DType, w, seed, step)
}

func adjointInputs(data Data, c Config, dt dtypes.DType, w float64, seed, step uint64) ([]*tensors.Tensor, error) {
	if err := data.Validate(c); err != nil {
		return nil, fmt.Errorf("latentsde.AdjointInputs: %w", err)
	}
	batch := data.X.Shape().Dimensions[0]
	r := rand.New(rand.NewPCG(seed, step))
	e := make([]float64, batch*c.LatentDim)
	for i := range e {
		e[i] = r.NormFloat64()
	}
	mask := data.Mask
	if mask == nil {
		mask = onesLike(data.X, dt)
	}
	return []*tensors.Tensor{castTo(data.X, dt), castTo(mask, dt), diffeq.FromFloat64s(dt, e, batch, c.LatentDim), diffeq.ScalarTensor(dt, w)}, nil
}

// BenchmarkStep returns a function that takes one Adam training step of the
// BenchmarkConfig model on BenchmarkData(batch) with the given gradient
// method: adjoint.Direct uses this package's Trainer (backprop through the
// Euler–Maruyama solve, with the Chunk and Shards of BenchmarkSplit);
// adjoint.Adjoint uses adjoint.Trainer on AdjointModel with the stochastic
// adjoint solved by Euler–Maruyama forward and backward (the OU prior's
// noise is additive), as torchsde's example does (Euler forward, an Ito
// adjoint with one drift evaluation per step backward); adjoint.Reversible
// uses reversible Heun. Same dt throughout.
func BenchmarkStep(b backends.Backend, method adjoint.Method, batch int) (func() error, error) {
	chunk, shards := BenchmarkSplit(b)
	return benchmarkStep(b, method, batch, TrainConfig{Chunk: chunk, Shards: shards}, diffeq.EulerMaruyama)
}

// BenchmarkSplit returns the TrainConfig.Chunk and Shards that BenchmarkStep
// uses on backend b (the adjoint trainer takes the same Shards): on the
// pure-Go backend the whole solve unrolled in one graph and the batch split
// in as many shards as CPUs (its executables keep about one core busy); on
// others (XLA, which uses every core by itself) one shard and chunks of 10
// steps, whose compilation takes seconds where the unrolled graph's took
// minutes.
func BenchmarkSplit(b backends.Backend) (chunk, shards int) {
	if isEmbedded(b) {
		return 0, runtime.GOMAXPROCS(0)
	}
	return 10, 1
}

// benchmarkStep is BenchmarkStep with the direct trainer's Chunk and Shards
// taken from split and the adjoint's solver method.
func benchmarkStep(b backends.Backend, method adjoint.Method, batch int, split TrainConfig, adjMethod diffeq.Method) (func() error, error) {
	m, err := New(BenchmarkConfig())
	if err != nil {
		return nil, err
	}
	data := BenchmarkData(batch)
	if method == adjoint.Direct {
		tr, err := NewTrainer(b, nil, m, TrainConfig{LearningRate: 1e-2, Schedule: LinearWarmup{Max: 1, Steps: 100}, Chunk: split.Chunk, Shards: split.Shards})
		if err != nil {
			return nil, err
		}
		return func() error { _, err := tr.Step(data); return err }, nil
	}
	tr, err := adjoint.NewTrainer(b, nil, m.AdjointModel(data.Ts), adjoint.TrainerConfig{Method: method, Solver: diffeq.Options{Dt: m.cfg.Dt, Method: adjMethod}, Shards: split.Shards})
	if err != nil {
		return nil, err
	}
	step := uint64(0)
	return func() error {
		in, err := m.AdjointInputs(data, LinearWarmup{Max: 1, Steps: 100}.Weight(int(step)), 0, step)
		if err != nil {
			return err
		}
		step++
		_, err = tr.Step(in, data.Ts)
		return err
	}, nil
}

// selector returns the constant (width, n) matrix S with S[from+i][i] = 1,
// so x·S picks columns from … from+n−1 of x (batch, width).
func selector(like *Node, width, from, n int) *Node {
	v := make([]float64, width*n)
	for i := range n {
		v[(from+i)*n+i] = 1
	}
	return graph.ConstAsDType(like.Graph(), like.DType(), tensorsToNested(v, width, n))
}

// tensorsToNested returns flat values as a [rows][cols] slice.
func tensorsToNested(v []float64, rows, cols int) [][]float64 {
	out := make([][]float64, rows)
	for r := range out {
		out[r] = v[r*cols : (r+1)*cols]
	}
	return out
}

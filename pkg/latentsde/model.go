package latentsde

import (
	"cmp"
	"fmt"
	"math"
	"sort"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/diffeq"
	"github.com/gosde/gosde/pkg/nn"
)

// OUPrior is a fixed Ornstein–Uhlenbeck prior: drift h(t, z) = θ(μ − z) and
// constant diffusion σ, with p(z0) = N(μ, σ²/(2θ)) (its stationary law).
// This is the prior of torchsde's examples/latent_sde.py.
type OUPrior struct {
	Theta, Mu, Sigma float64
}

// Config describes a latent SDE (Li et al. 2020). Zero fields take the
// documented defaults.
type Config struct {
	DataDim   int // observation size (required)
	LatentDim int // latent state size (required)
	// ContextDim is the size of the encoder's context. With 0 there is no
	// encoder: q(z0) is a learned Gaussian (variables) and the posterior
	// drift sees no observations (torchsde's examples/latent_sde.py).
	ContextDim int
	// EncoderHidden is the GRU width (default 32).
	EncoderHidden int
	// Hidden are the hidden widths of the drift networks (default {64, 64}).
	Hidden []int
	// DiffusionHidden is the hidden width of each latent dimension's
	// diffusion net (default 16).
	DiffusionHidden int
	// Activation of the drift networks (default Softplus).
	Activation nn.Activation
	// TimeFeatures feeds (sin t, cos t) to the posterior drift.
	TimeFeatures bool
	// OUPrior, if set, replaces the learned prior drift, diffusion and p(z0)
	// by a fixed OU prior.
	OUPrior *OUPrior
	// Likelihood of the observations given the decoded latent (default Gaussian).
	Likelihood Likelihood
	// ObsScale is the observation noise: the std of a Gaussian or the scale
	// of a Laplace likelihood (default 0.01).
	ObsScale float64
	// Dt is the Euler–Maruyama step (default 0.01).
	Dt float64
	// Floor is the floor on |g| in (f − h)/g (default DefaultDiffusionFloor).
	Floor float64
	// DType of the model (default Float32).
	DType dtypes.DType
}

func (c Config) withDefaults() Config {
	c.EncoderHidden = cmp.Or(c.EncoderHidden, 32)
	if c.Hidden == nil {
		c.Hidden = []int{64, 64}
	}
	c.DiffusionHidden = cmp.Or(c.DiffusionHidden, 16)
	if c.Activation == nn.Identity {
		c.Activation = nn.Softplus
	}
	c.Likelihood = cmp.Or(c.Likelihood, Gaussian)
	c.ObsScale = cmp.Or(c.ObsScale, 0.01)
	c.Dt = cmp.Or(c.Dt, 0.01)
	c.Floor = cmp.Or(c.Floor, DefaultDiffusionFloor)
	c.DType = cmp.Or(c.DType, dtypes.Float32)
	return c
}

// Validate checks the configuration, naming the field at fault.
func (c Config) Validate() error {
	if c.DataDim < 1 || c.LatentDim < 1 {
		return fmt.Errorf("latentsde.Config: DataDim and LatentDim must be ≥ 1, got %d and %d", c.DataDim, c.LatentDim)
	}
	if c.ContextDim < 0 || c.EncoderHidden < 0 || c.DiffusionHidden < 0 {
		return fmt.Errorf("latentsde.Config: ContextDim, EncoderHidden and DiffusionHidden must be ≥ 0")
	}
	for i, h := range c.Hidden {
		if h < 1 {
			return fmt.Errorf("latentsde.Config.Hidden[%d] must be ≥ 1, got %d", i, h)
		}
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"ObsScale", c.ObsScale}, {"Dt", c.Dt}, {"Floor", c.Floor}} {
		if f.v < 0 || math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return fmt.Errorf("latentsde.Config.%s must be finite and ≥ 0 (0: default), got %g", f.name, f.v)
		}
	}
	if p := c.OUPrior; p != nil && (!(p.Theta > 0) || !(p.Sigma > 0) || math.IsNaN(p.Mu) || math.IsInf(p.Mu, 0)) {
		return fmt.Errorf("latentsde.Config.OUPrior: want Theta > 0, Sigma > 0 and a finite Mu, got %+v", *p)
	}
	if c.DType != dtypes.InvalidDType && c.DType != dtypes.Float32 && c.DType != dtypes.Float64 {
		return fmt.Errorf("latentsde.Config.DType must be Float32 or Float64, got %s", c.DType)
	}
	switch c.Likelihood {
	case "", Gaussian, Laplace:
	default:
		return fmt.Errorf("latentsde.Config.Likelihood: unknown %q (gaussian, laplace)", c.Likelihood)
	}
	return nil
}

// Model is a latent SDE: an encoder (a GRU run backwards over the
// observations and their time gaps) gives a context per observation time
// and q(z0) = N(mean, e^{logvar}); the posterior drift f(t, z, context), the
// prior drift h(t, z) and the diagonal diffusion g(t, z) (one small net per
// latent dimension, sigmoid output) define the posterior and prior SDEs; a
// linear decoder maps latents to observations. The KL divergence is
// KL(q(z0)‖p(z0)) + E ∫ ½‖(f − h)/g‖² dt, the path term integrated alongside
// the solve.
//
// Its methods build graphs; variables live in the context passed to them
// (scopes "encoder", "posterior_drift", "prior_drift", "diffusion",
// "decoder", "prior_z0", "q_z0"). Trainer runs them on the host.
type Model struct {
	cfg Config
}

// New returns a model for cfg (defaults filled in).
func New(cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Model{cfg: cfg.withDefaults()}, nil
}

// Config returns the model's configuration with defaults filled in.
func (m *Model) Config() Config { return m.cfg }

// scalar returns v as a scalar node of the model's dtype.
func (m *Model) scalar(g *graph.Graph, v float64) *Node { return graph.Scalar(g, m.cfg.DType, v) }

// Observations are a batch of (possibly irregular) observations on a common
// time grid, as graph nodes: X and Mask are (batch, len(Ts), DataDim), Mask
// 1 where observed and 0 where not (nil: all observed).
type Observations struct {
	X, Mask *Node
	Ts      []float64
}

// at returns the observations and mask at time index i, (batch, DataDim).
func (o Observations) at(i int) (x, mask *Node) {
	x = graph.Reshape(graph.Slice(o.X, graph.AxisRange(), graph.AxisElem(i)), o.X.Shape().Dimensions[0], o.X.Shape().Dimensions[2])
	if o.Mask == nil {
		return x, graph.OnesLike(x)
	}
	mask = graph.Reshape(graph.Slice(o.Mask, graph.AxisRange(), graph.AxisElem(i)), x.Shape().Dimensions...)
	return x, graph.ConvertDType(mask, x.DType())
}

// sumLogLik returns Σ_i mask_i·log p(x_i | decode(zs[i])) per sample
// (batch,), the likelihood lik with the scale obsScale (a constant of dtype),
// zs[i] the latents at o.Ts[i]. It returns nil for empty zs.
func (o Observations) sumLogLik(zs []*Node, lik Likelihood, dtype dtypes.DType, obsScale float64, decode func(z *Node) *Node) (*Node, error) {
	var ll *Node
	for i, z := range zs {
		x, mask := o.at(i)
		li, err := lik.LogLikelihood(x, decode(z), graph.Scalar(x.Graph(), dtype, obsScale), mask)
		if err != nil {
			return nil, err
		}
		if ll == nil {
			ll = li
		} else {
			ll = graph.Add(ll, li)
		}
	}
	return ll, nil
}

// Encode runs the GRU backwards over the observations, each concatenated
// with its mask and the time gap to the next observation time, and returns
// the context after each observation time (contexts[i] summarises
// observations i … T−1; nil without an encoder) and q(z0)'s mean and
// log-variance, (batch, LatentDim).
func (m *Model) Encode(ctx *context.Context, obs Observations) (contexts []*Node, qMean, qLogVar *Node) {
	return m.encode(ctx, obs, true)
}

// encode is Encode; with all false only contexts[0] is computed.
func (m *Model) encode(ctx *context.Context, obs Observations, all bool) (contexts []*Node, qMean, qLogVar *Node) {
	ctx = ctx.Checked(false)
	c := m.cfg
	batch := obs.X.Shape().Dimensions[0]
	g := obs.X.Graph()
	if c.ContextDim == 0 {
		q := ctx.In("q_z0")
		mean := q.VariableWithValue("mean", m.initLatent(c.LatentDim, m.priorMean())).ValueGraph(g)
		logVar := q.VariableWithValue("log_var", m.initLatent(c.LatentDim, m.priorLogVar())).ValueGraph(g)
		shape := shapes.Make(c.DType, batch, c.LatentDim)
		return nil, broadcastTo(mean, shape), broadcastTo(logVar, shape)
	}
	enc := ctx.In("encoder")
	hs := encodeGRU(enc.In("gru"), obs, c.EncoderHidden, c.DType)
	contexts = make([]*Node, len(hs))
	for i, hi := range hs {
		if i == 0 || all {
			contexts[i] = nn.Dense(enc.In("context"), hi, c.ContextDim, true)
		}
	}
	qMean = nn.Dense(enc.In("q_mean"), hs[0], c.LatentDim, true)
	qLogVar = nn.Dense(enc.In("q_log_var"), hs[0], c.LatentDim, true)
	return contexts, qMean, qLogVar
}

func (m *Model) priorMean() float64 {
	if p := m.cfg.OUPrior; p != nil {
		return p.Mu
	}
	return 0
}

func (m *Model) priorLogVar() float64 {
	if p := m.cfg.OUPrior; p != nil {
		return math.Log(p.Sigma * p.Sigma / (2 * p.Theta))
	}
	return 0
}

// initLatent returns a (LatentDim,) value filled with v, of the model's dtype.
func (m *Model) initLatent(d int, v float64) any {
	vals := make([]float64, d)
	for i := range vals {
		vals[i] = v
	}
	return diffeq.FromFloat64s(m.cfg.DType, vals, d)
}

// PriorZ0 returns p(z0)'s mean and log-variance, (LatentDim,): learned
// variables, or the OU prior's stationary law.
func (m *Model) PriorZ0(ctx *context.Context, g *graph.Graph) (mean, logVar *Node) {
	c := m.cfg
	if c.OUPrior != nil {
		return graph.BroadcastToShape(m.scalar(g, m.priorMean()), shapes.Make(c.DType, c.LatentDim)),
			graph.BroadcastToShape(m.scalar(g, m.priorLogVar()), shapes.Make(c.DType, c.LatentDim))
	}
	p := ctx.Checked(false).In("prior_z0")
	return p.VariableWithValue("mean", m.initLatent(c.LatentDim, 0)).ValueGraph(g),
		p.VariableWithValue("log_var", m.initLatent(c.LatentDim, 0)).ValueGraph(g)
}

// timeFeatures returns (sin t, cos t) broadcast to (batch, 2).
func timeFeatures(t *Node, batch int) *Node {
	tt := graph.BroadcastToShape(graph.Reshape(t, 1, 1), shapes.Make(t.DType(), batch, 1))
	return graph.Concatenate([]*Node{graph.Sin(tt), graph.Cos(tt)}, -1)
}

// PosteriorDrift returns f(t, z, context) (batch, LatentDim); the context
// cvec may be nil (no encoder).
func (m *Model) PosteriorDrift(ctx *context.Context, t, z, cvec *Node) *Node {
	c := m.cfg
	in := []*Node{z}
	if cvec != nil {
		in = append(in, cvec)
	}
	if c.TimeFeatures {
		in = append(in, timeFeatures(t, z.Shape().Dimensions[0]))
	}
	return nn.MLP(ctx.Checked(false).In("posterior_drift"), graph.Concatenate(in, -1), c.Hidden, c.LatentDim, c.Activation)
}

// PriorDrift returns h(t, z) (batch, LatentDim).
func (m *Model) PriorDrift(ctx *context.Context, t, z *Node) *Node {
	if p := m.cfg.OUPrior; p != nil {
		return graph.MulScalar(graph.Sub(m.scalar(z.Graph(), p.Mu), z), p.Theta)
	}
	return nn.MLP(ctx.Checked(false).In("prior_drift"), z, m.cfg.Hidden, m.cfg.LatentDim, m.cfg.Activation)
}

// Diffusion returns the diagonal diffusion g(t, z) (batch, LatentDim),
// shared by posterior and prior: for each latent dimension i a net
// g_i(z_i) = σ(Σ_k w2_ik·softplus(w1_ik·z_i + b1_ik) + b2_i) of its own
// coordinate (all dimensions computed at once, element-wise). With an
// OUPrior it is the constant σ.
func (m *Model) Diffusion(ctx *context.Context, t, z *Node) *Node {
	c := m.cfg
	if p := c.OUPrior; p != nil {
		return graph.BroadcastToShape(m.scalar(z.Graph(), p.Sigma), z.Shape())
	}
	d, h := c.LatentDim, c.DiffusionHidden
	dc := ctx.Checked(false).In("diffusion")
	g := z.Graph()
	w1 := dc.VariableWithShape("w1", shapes.Make(c.DType, 1, d, h)).ValueGraph(g)
	b1 := dc.VariableWithShape("b1", shapes.Make(c.DType, 1, d, h)).ValueGraph(g)
	w2 := dc.VariableWithShape("w2", shapes.Make(c.DType, 1, d, h)).ValueGraph(g)
	b2 := dc.VariableWithValue("b2", m.initLatent(d, 0)).ValueGraph(g)
	hid := graph.Softplus(graph.Add(graph.Mul(graph.ExpandAxes(z, -1), w1), b1)) // (batch, d, h)
	return graph.Logistic(graph.Add(graph.ReduceSum(graph.Mul(hid, w2), -1), graph.ExpandAxes(b2, 0)))
}

// Decode maps latents (batch, LatentDim) to observation space (batch, DataDim).
func (m *Model) Decode(ctx *context.Context, z *Node) *Node {
	return nn.Dense(ctx.Checked(false).In("decoder"), z, m.cfg.DataDim, true)
}

// sde returns the posterior/prior pair with the posterior drift using
// context (nil: none).
func (m *Model) sde(cvec *Node) PosteriorPrior {
	return PosteriorPrior{
		Posterior: func(ctx *context.Context, t, z *Node) *Node { return m.PosteriorDrift(ctx, t, z, cvec) },
		Prior:     m.PriorDrift,
		Diffusion: m.Diffusion,
		Floor:     m.cfg.Floor,
	}
}

// Grid returns the Euler–Maruyama grid for save times ts (diffeq.SDEGrid
// with the model's Dt) and the index of each save time in it.
func (m *Model) Grid(ts []float64) (grid []float64, saveIdx []int, err error) {
	return diffeq.SDEGrid(ts, m.cfg.Dt)
}

// contextIndex returns, for a step ending at time t, the index of the
// context to use: that of the first observation time ≥ t (the context then
// summarises the observations still to come), or the last one.
func contextIndex(obsTs []float64, t float64) int {
	i := sort.SearchFloat64s(obsTs, t-1e-12*math.Max(1, math.Abs(t)))
	return min(i, len(obsTs)-1)
}

// Unroll solves the posterior SDE (prior if posterior is false) from z0 over
// the grid of saveTs, unrolling Euler–Maruyama in the graph (the direct
// method: GoMLX differentiates through every step) and integrating the KL
// path term alongside. dW (steps, batch, LatentDim) holds the Brownian
// increments of the grid's steps. contexts (from Encode, at obsTs) select
// the posterior drift's context per step; nil without an encoder. It
// returns the latents at the save times and the path term (batch,) at the
// last save time (zeros for the prior).
func (m *Model) Unroll(ctx *context.Context, z0 *Node, saveTs []float64, dW *Node, contexts []*Node, obsTs []float64, posterior bool) (zs []*Node, logqp *Node, err error) {
	grid, saveIdx, err := m.Grid(saveTs)
	if err != nil {
		return nil, nil, fmt.Errorf("latentsde.Model.Unroll: saveTs: %w", err)
	}
	steps := len(grid) - 1
	want := []int{steps, z0.Shape().Dimensions[0], m.cfg.LatentDim}
	if dW == nil || dW.Rank() != 3 || dW.Shape().Dimensions[0] != want[0] || dW.Shape().Dimensions[1] != want[1] || dW.Shape().Dimensions[2] != want[2] {
		return nil, nil, fmt.Errorf("latentsde.Model.Unroll: dW must be shaped %v (steps, batch, latent), got %v", want, dW)
	}
	if contexts != nil && len(contexts) != len(obsTs) {
		return nil, nil, fmt.Errorf("latentsde.Model.Unroll: %d contexts for %d observation times", len(contexts), len(obsTs))
	}
	g := z0.Graph()
	z := z0
	logqp = graph.Zeros(g, shapes.Make(z0.DType(), z0.Shape().Dimensions[0]))
	zs = []*Node{z0}
	next := 1
	for k := 0; k < steps; k++ {
		t, h := m.scalar(g, grid[k]), m.scalar(g, grid[k+1]-grid[k])
		noise := graph.Reshape(graph.Slice(dW, graph.AxisElem(k)), want[1], want[2])
		if posterior {
			var c *Node
			if contexts != nil {
				c = contexts[contextIndex(obsTs, grid[k+1])]
			}
			z, logqp = EulerMaruyamaLogqpStep(ctx, m.sde(c), t, h, z, logqp, noise)
		} else {
			prior := diffeq.SDE{Drift: m.PriorDrift, Diffusion: m.Diffusion}
			if z, err = diffeq.StepSDE(ctx, prior, diffeq.EulerMaruyama, t, h, z, noise); err != nil {
				return nil, nil, fmt.Errorf("latentsde.Model.Unroll: %w", err)
			}
		}
		if next < len(saveIdx) && saveIdx[next] == k+1 {
			zs = append(zs, z)
			next++
		}
	}
	return zs, logqp, nil
}

// Sample0 returns mean + e^{logVar/2}·eps, the reparameterised draw.
func Sample0(mean, logVar, eps *Node) *Node {
	return graph.Add(mean, graph.Mul(graph.Exp(graph.MulScalar(logVar, 0.5)), eps))
}

// ELBOGraph builds the negative ELBO of a batch of observations (the direct
// method): encode, draw z0 ~ q(z0) with eps0 (batch, LatentDim), solve the
// posterior SDE over obs.Ts with the increments dW, decode, and combine the
// masked log-likelihood with KL(q(z0)‖p(z0)) + the path term weighted by
// klWeight (a scalar node).
func (m *Model) ELBOGraph(ctx *context.Context, obs Observations, eps0, dW, klWeight *Node) (ELBOTerms, error) {
	c := m.cfg
	if obs.X.Rank() != 3 || obs.X.Shape().Dimensions[1] != len(obs.Ts) || obs.X.Shape().Dimensions[2] != c.DataDim {
		return ELBOTerms{}, fmt.Errorf("latentsde.Model.ELBOGraph: X must be shaped (batch, %d, %d), got %s", len(obs.Ts), c.DataDim, obs.X.Shape())
	}
	contexts, qm, qlv := m.Encode(ctx, obs)
	pm, plv := m.PriorZ0(ctx, obs.X.Graph())
	kl0 := GaussianKL(qm, qlv, pm, plv)
	z0 := Sample0(qm, qlv, eps0)
	zs, logqp, err := m.Unroll(ctx, z0, obs.Ts, dW, contexts, obs.Ts, true)
	if err != nil {
		return ELBOTerms{}, err
	}
	ll, err := m.LogLikelihood(ctx, obs, zs)
	if err != nil {
		return ELBOTerms{}, err
	}
	return ELBO(ll, graph.Add(kl0, logqp), klWeight), nil
}

// LogLikelihood returns Σ_i mask_i·log p(x_i | decode(zs[i])) per sample
// (batch,), zs[i] the latents at obs.Ts[i].
func (m *Model) LogLikelihood(ctx *context.Context, obs Observations, zs []*Node) (*Node, error) {
	if len(zs) != len(obs.Ts) {
		return nil, fmt.Errorf("latentsde.Model.LogLikelihood: %d latents for %d observation times", len(zs), len(obs.Ts))
	}
	return obs.sumLogLik(zs, m.cfg.Likelihood, m.cfg.DType, m.cfg.ObsScale, func(z *Node) *Node { return m.Decode(ctx, z) })
}

// broadcastTo broadcasts x to shape, aligning x's axes with shape's last
// axes (numpy rules).
func broadcastTo(x *Node, shape shapes.Shape) *Node {
	if x.Rank() < shape.Rank() {
		dims := make([]int, shape.Rank())
		for i := range dims {
			dims[i] = 1
		}
		copy(dims[shape.Rank()-x.Rank():], x.Shape().Dimensions)
		x = graph.Reshape(x, dims...)
	}
	return graph.BroadcastToShape(x, shape)
}

// shapesOf returns the shape (batch, n) with z's batch size and dtype.
func shapesOf(z *Node, n int) shapes.Shape {
	return shapes.Make(z.DType(), z.Shape().Dimensions[0], n)
}

// encodeGRU runs a GRU of width hidden backwards over the observations, the
// input at index i being [x_i ⊙ mask_i, mask_i, t_{i+1} − t_i] (gap 0 for the
// last), and returns the hidden states: hs[i] summarises observations
// i … T−1.
func encodeGRU(ctx *context.Context, obs Observations, hidden int, dtype dtypes.DType) []*Node {
	n := len(obs.Ts)
	batch := obs.X.Shape().Dimensions[0]
	g := obs.X.Graph()
	h := graph.Zeros(g, shapes.Make(dtype, batch, hidden))
	hs := make([]*Node, n)
	for i := n - 1; i >= 0; i-- {
		x, mask := obs.at(i)
		gap := 0.0
		if i+1 < n {
			gap = obs.Ts[i+1] - obs.Ts[i]
		}
		in := graph.Concatenate([]*Node{graph.Mul(x, mask), mask,
			graph.BroadcastToShape(graph.Scalar(g, dtype, gap), shapes.Make(dtype, batch, 1))}, -1)
		h = nn.GRUCell(ctx, in, h, hidden)
		hs[i] = h
	}
	return hs
}

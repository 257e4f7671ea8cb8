package latentsde

import (
	"cmp"
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/diffeq"
	"github.com/gosde/gosde/pkg/nn"
)

// Objective names what a Trainer minimises.
type Objective string

// Training objectives.
const (
	// ObjectiveSolver is the negative ELBO along a simulated posterior path,
	// differentiated through the Euler–Maruyama solve (the default).
	ObjectiveSolver Objective = "solver"
	// ObjectiveMatching is SDE Matching (Bartosh, Vetrov, Naesseth 2025):
	// the negative ELBO of a posterior given by its Gaussian marginals,
	// estimated at random times without solving any SDE (see
	// Model.MatchingELBOGraph).
	ObjectiveMatching Objective = "matching"
)

// Validate checks that o is a known objective ("" is ObjectiveSolver).
func (o Objective) Validate() error {
	switch o {
	case "", ObjectiveSolver, ObjectiveMatching:
		return nil
	}
	return fmt.Errorf("latentsde: unknown objective %q (solver, matching)", o)
}

// MatchingConfig configures SDE Matching's posterior-marginal network and
// its Monte Carlo estimate. Zero fields take the documented defaults.
type MatchingConfig struct {
	// Hidden are the hidden widths of the marginal network (default {64, 64}).
	Hidden []int
	// Frequencies is the number K of Fourier time features: the network
	// sees τ = (t − t0)/(t1 − t0) and sin(kπτ), cos(kπτ) for k = 1 … K
	// (default 4).
	Frequencies int
	// Times is the number of random times per sequence at which the path
	// term is estimated (stratified: one uniform time in each of Times
	// equal slices of [t0, t1]; default 8).
	Times int
	// Bandwidth is the width of the Gaussian kernel that interpolates the
	// encoder's contexts in time, as a fraction of the mean gap between
	// observation times (default 0.5).
	Bandwidth float64
	// MinStd is added to the marginal standard deviation s (default 1e-4).
	MinStd float64
}

func (c MatchingConfig) withDefaults() MatchingConfig {
	if c.Hidden == nil {
		c.Hidden = []int{64, 64}
	}
	c.Frequencies = cmp.Or(c.Frequencies, 4)
	c.Times = cmp.Or(c.Times, 8)
	c.Bandwidth = cmp.Or(c.Bandwidth, 0.5)
	c.MinStd = cmp.Or(c.MinStd, 1e-4)
	return c
}

// Validate checks the configuration, naming the field at fault.
func (c MatchingConfig) Validate() error {
	if c.Hidden != nil && len(c.Hidden) == 0 {
		return fmt.Errorf("latentsde.MatchingConfig.Hidden must hold at least one width (nil: default), got []")
	}
	for i, h := range c.Hidden {
		if h < 1 {
			return fmt.Errorf("latentsde.MatchingConfig.Hidden[%d] must be ≥ 1, got %d", i, h)
		}
	}
	if c.Frequencies < 0 || c.Times < 0 {
		return fmt.Errorf("latentsde.MatchingConfig: Frequencies and Times must be ≥ 0 (0: default), got %d and %d", c.Frequencies, c.Times)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"Bandwidth", c.Bandwidth}, {"MinStd", c.MinStd}} {
		if f.v < 0 || math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return fmt.Errorf("latentsde.MatchingConfig.%s must be finite and ≥ 0 (0: default), got %g", f.name, f.v)
		}
	}
	return nil
}

// Marginal is a diagonal Gaussian posterior marginal q(z_t | X) =
// N(Mean, Std²) at a batch of times, with the time derivatives of its
// parameters. All four have the same shape.
type Marginal struct {
	Mean, Std   *Node
	DMean, DStd *Node // ∂t Mean, ∂t Std
}

// MarginalDrift returns the drift of the posterior SDE dz = f dt + g dW
// whose marginals are mg, at z (shaped like mg.Mean), for a diagonal
// diffusion g:
//
//	f = ∂t m + (∂t s / s)(z − m) − ½ g² (z − m)/s² + ½ ∂z(g²),
//
// the probability-flow velocity of z = m + s ε plus the Fokker–Planck
// correction ½ g² ∇z log q + ½ ∇z·(g gᵀ). halfDivG2 is ½ ∂(g_i²)/∂z_i =
// g_i ∂g_i/∂z_i (nil when g does not depend on z).
func MarginalDrift(mg Marginal, z, g, halfDivG2 *Node) *Node {
	u := graph.Div(graph.Sub(z, mg.Mean), mg.Std) // ε
	f := graph.Add(mg.DMean, graph.Mul(mg.DStd, u))
	f = graph.Sub(f, graph.Div(graph.MulScalar(graph.Mul(graph.Square(g), u), 0.5), mg.Std))
	if halfDivG2 != nil {
		f = graph.Add(f, halfDivG2)
	}
	return f
}

// MatchingRate returns the integrand of SDE Matching's path term per row,
// ½‖(f_φ(z) − h(z))/g(z)‖² at z = Mean + Std ⊙ eps (shape (rows,)), with
// f_φ = MarginalDrift of mg, h = prior and g = diffusion, both called at
// the time t (a node they receive as is). mg and eps are (rows, d).
// With divergence, ½∂z(g²) is computed by automatic differentiation of
// Σ g with respect to z, which is exact for a diagonal diffusion whose i-th
// entry depends on z_i only (Model.Diffusion); without it g must not
// depend on z. |g| is floored at floor in the division (see StableDivide).
func MatchingRate(ctx *context.Context, prior, diffusion diffeq.Func, t *Node, mg Marginal, eps *Node, floor float64, divergence bool) *Node {
	z := graph.Add(mg.Mean, graph.Mul(mg.Std, eps))
	g := diffusion(ctx.Checked(false), t, z)
	var half *Node
	if divergence {
		dg := graph.Gradient(graph.ReduceAllSum(g), z)[0]
		half = graph.Mul(g, dg)
	}
	f := MarginalDrift(mg, z, g, half)
	h := prior(ctx.Checked(false), t, z)
	u := StableDivide(graph.Sub(f, h), g, floor)
	return graph.MulScalar(graph.ReduceSum(graph.Square(u), -1), 0.5)
}

// matchingSpan returns t0, t1 − t0 and the kernel width for obsTs.
func matchingSpan(obsTs []float64, mc MatchingConfig) (t0, span, width float64) {
	t0 = obsTs[0]
	span = obsTs[len(obsTs)-1] - t0
	width = mc.Bandwidth * span / float64(max(1, len(obsTs)-1))
	return t0, span, width
}

// Marginals evaluates the posterior-marginal network at the times t
// (batch, k), given the encoder's contexts cs (batch, n, ContextDim)
// stacked at the observation times obsTs (nil without an encoder), and
// returns the marginal and its time derivatives, each (batch, k,
// LatentDim).
//
// The network: the contexts are interpolated in time with normalised
// Gaussian kernel weights w_i(t) ∝ exp(−(t − t_i)²/2ℓ²) (ℓ =
// Bandwidth × mean gap), c(t) = Σ_i w_i(t) c_i; c(t), Fourier features of
// τ = (t − t0)/(t1 − t0) and a bridge feature Σ_i relu((t − t_i)(t_{i+1} −
// t))/(t_{i+1} − t_i) (zero at the observation times, a parabola between
// them) go through a tanh MLP (widths mc.Hidden) with two linear heads: the
// mean m and s = softplus(·) + MinStd.
//
// The time derivatives are exact and computed in forward mode, by hand:
// every layer carries its tangent ∂/∂t alongside its value (one extra
// matrix product per layer, no second-order autodiff in the training
// graph). A reverse-mode graph.Gradient per output dimension would need d
// backward passes and a gradient of a gradient for training.
// Variables live in ctx's scope "matching".
func (m *Model) Marginals(ctx *context.Context, mc MatchingConfig, cs *Node, obsTs []float64, t *Node) Marginal {
	return m.marginals(ctx, mc, cs, obsTs, t, true)
}

func (m *Model) marginals(ctx *context.Context, mc MatchingConfig, cs *Node, obsTs []float64, t *Node, derivs bool) Marginal {
	mc = mc.withDefaults()
	c := m.cfg
	if t == nil || t.Rank() != 2 {
		panic(fmt.Errorf("latentsde.Model.Marginals: t must be shaped (batch, k), got %v", t))
	}
	if len(obsTs) < 2 {
		panic(fmt.Errorf("latentsde.Model.Marginals: obsTs needs ≥ 2 times, got %d", len(obsTs)))
	}
	batch, k := t.Shape().Dimensions[0], t.Shape().Dimensions[1]
	n, rows := len(obsTs), batch*k
	g, dtype := t.Graph(), t.DType()
	t0, span, width := matchingSpan(obsTs, mc)
	mctx := ctx.Checked(false).In("matching")
	l0 := mctx.In("layer_0")
	if len(mc.Hidden) == 0 {
		panic(fmt.Errorf("latentsde.Model.Marginals: MatchingConfig.Hidden must not be empty"))
	}
	h0 := mc.Hidden[0]
	variable := func(scope *context.Context, name string, dims ...int) *Node {
		return scope.VariableWithShape(name, shapes.Make(dtype, dims...)).ValueGraph(g)
	}
	// Time features and their tangents, (rows, ·).
	dtau := 1 / span
	tau := graph.MulScalar(graph.AddScalar(graph.Reshape(t, rows, 1), -t0), dtau)
	freqs := make([]float64, mc.Frequencies)
	for i := range freqs {
		freqs[i] = math.Pi * float64(i+1)
	}
	wTau := variable(l0, "time_weights", 1, h0)
	pre := graph.Add(nn.Linear(tau, wTau, nil), graph.BroadcastToDims(graph.ExpandAxes(variable(l0, "biases", h0), 0), rows, h0))
	var dpre *Node
	if derivs {
		dpre = graph.BroadcastToDims(graph.MulScalar(wTau, dtau), rows, h0)
	}
	if mc.Frequencies > 0 {
		fr := graph.ConstAsDType(g, dtype, [][]float64{freqs})
		arg := graph.Mul(graph.BroadcastToDims(tau, rows, len(freqs)), graph.BroadcastToDims(fr, rows, len(freqs)))
		sin, cos := graph.Sin(arg), graph.Cos(arg)
		ws, wc := variable(l0, "sin_weights", len(freqs), h0), variable(l0, "cos_weights", len(freqs), h0)
		pre = graph.Add(pre, graph.Add(nn.Linear(sin, ws, nil), nn.Linear(cos, wc, nil)))
		if derivs {
			kd := graph.BroadcastToDims(graph.MulScalar(fr, dtau), rows, len(freqs))
			dpre = graph.Add(dpre, graph.Sub(nn.Linear(graph.Mul(cos, kd), ws, nil), nn.Linear(graph.Mul(sin, kd), wc, nil)))
		}
	}
	{
		// The bridge feature b(t) = Σ_i relu((t − t_i)(t_{i+1} − t))/(t_{i+1} − t_i):
		// 0 at the observation times, a parabola between them (the shape of
		// a Brownian bridge's variance), so s(t) can widen between
		// observations at the data's time resolution.
		lo, hi, inv := make([]float64, n-1), make([]float64, n-1), make([]float64, n-1)
		for i := range lo {
			lo[i], hi[i], inv[i] = obsTs[i], obsTs[i+1], 1/(obsTs[i+1]-obsTs[i])
		}
		row := func(v []float64) *Node {
			return graph.BroadcastToDims(graph.ConstAsDType(g, dtype, [][]float64{v}), rows, n-1)
		}
		tt := graph.BroadcastToDims(graph.Reshape(t, rows, 1), rows, n-1)
		a, c := graph.Sub(tt, row(lo)), graph.Sub(row(hi), tt)
		inside := graph.ConvertDType(graph.GreaterThan(graph.Mul(a, c), graph.ZerosLike(a)), dtype)
		bridge := graph.ReduceSum(graph.Mul(graph.Mul(graph.Mul(a, c), row(inv)), inside), -1)
		wb := variable(l0, "bridge_weights", 1, h0)
		pre = graph.Add(pre, nn.Linear(graph.Reshape(bridge, rows, 1), wb, nil))
		if derivs {
			// ∂t b = Σ_i 1[t_i < t < t_{i+1}] (t_i + t_{i+1} − 2t)/(t_{i+1} − t_i).
			db := graph.ReduceSum(graph.Mul(graph.Mul(graph.Sub(c, a), row(inv)), inside), -1)
			dpre = graph.Add(dpre, nn.Linear(graph.Reshape(db, rows, 1), wb, nil))
		}
	}
	if cs != nil {
		cd := cs.Shape().Dimensions
		if cs.Rank() != 3 || cd[0] != batch || cd[1] != n {
			panic(fmt.Errorf("latentsde.Model.Marginals: cs must be shaped (%d, %d, contextDim), got %s", batch, n, cs.Shape()))
		}
		ts := graph.ConstAsDType(g, dtype, obsTs)
		diff := graph.Sub(graph.BroadcastToDims(graph.ExpandAxes(t, -1), batch, k, n),
			graph.BroadcastToDims(graph.Reshape(ts, 1, 1, n), batch, k, n)) // t − t_i
		inv := 1 / (width * width)
		w := graph.Softmax(graph.MulScalar(graph.Square(diff), -0.5*inv), -1)
		cvec := graph.Reshape(graph.Einsum("bkn,bnc->bkc", w, cs), rows, cd[2])
		wc := variable(l0, "context_weights", cd[2], h0)
		pre = graph.Add(pre, nn.Linear(cvec, wc, nil))
		if derivs {
			// ∂t w_i = w_i (a_i − Σ_j w_j a_j), a_i = −(t − t_i)/ℓ².
			a := graph.MulScalar(diff, -inv)
			abar := graph.ReduceSum(graph.Mul(w, a), -1)
			dw := graph.Mul(w, graph.Sub(a, graph.BroadcastToDims(graph.ExpandAxes(abar, -1), batch, k, n)))
			dc := graph.Reshape(graph.Einsum("bkn,bnc->bkc", dw, cs), rows, cd[2])
			dpre = graph.Add(dpre, nn.Linear(dc, wc, nil))
		}
	}
	h, dh := tanhTangent(pre, dpre)
	for i, width := range mc.Hidden[1:] {
		l := mctx.Inf("layer_%d", i+1)
		w := variable(l, "weights", h.Shape().Dim(-1), width)
		pre = nn.Linear(h, w, variable(l, "biases", width))
		if derivs {
			dpre = nn.Linear(dh, w, nil)
		}
		h, dh = tanhTangent(pre, dpre)
	}
	d := c.LatentDim
	head := func(name string) (y, dy *Node) {
		l := mctx.In(name)
		w := variable(l, "weights", h.Shape().Dim(-1), d)
		y = nn.Linear(h, w, variable(l, "biases", d))
		if derivs {
			dy = nn.Linear(dh, w, nil)
		}
		return y, dy
	}
	mean, dmean := head("mean")
	raw, draw := head("std")
	std := graph.AddScalar(nn.Softplus.Apply(raw), mc.MinStd)
	out := Marginal{Mean: graph.Reshape(mean, batch, k, d), Std: graph.Reshape(std, batch, k, d)}
	if derivs {
		out.DMean = graph.Reshape(dmean, batch, k, d)
		out.DStd = graph.Reshape(graph.Mul(graph.Logistic(raw), draw), batch, k, d)
	}
	return out
}

// tanhTangent returns y = tanh(x) and its tangent (1 − y²)·dx (nil when dx
// is nil).
func tanhTangent(x, dx *Node) (y, dy *Node) {
	y = nn.FastTanh(x)
	if dx != nil {
		dy = graph.Mul(graph.OneMinus(graph.Square(y)), dx)
	}
	return y, dy
}

// reshapeMarginal reshapes every field of mg to dims.
func reshapeMarginal(mg Marginal, dims ...int) Marginal {
	r := func(x *Node) *Node {
		if x == nil {
			return nil
		}
		return graph.Reshape(x, dims...)
	}
	return Marginal{Mean: r(mg.Mean), Std: r(mg.Std), DMean: r(mg.DMean), DStd: r(mg.DStd)}
}

// matchingContexts encodes obs and stacks its contexts, (batch, n,
// ContextDim); nil without an encoder.
func (m *Model) matchingContexts(ctx *context.Context, obs Observations) *Node {
	if m.cfg.ContextDim == 0 {
		return nil
	}
	contexts, _, _ := m.Encode(ctx, obs)
	return graph.Stack(contexts, 1)
}

// MatchingELBOGraph builds SDE Matching's negative ELBO of a batch of
// observations, with no SDE solve:
//
//	KL(q(z_t0 | X) ‖ p(z_t0))
//	+ (t1 − t0) · mean_k ½‖(f_φ − h)/g‖²(t_k, z_k),  z_k = m(t_k) + s(t_k) ε_k
//	− Σ_i mask_i · log p(x_i | decode(m(t_i) + s(t_i) ε_i)),
//
// with q(z_t | X) = N(m, s²) the posterior-marginal network (Marginals)
// given the encoder's contexts of X, f_φ its closed-form posterior drift
// (MarginalDrift), and the prior drift h, diffusion g, p(z_t0) and
// likelihood of the model. times (batch, k) are the random times t_k in
// [t0, t1] (for an unbiased path term, uniform; stratified is fine),
// epsPath (batch, k, LatentDim) and epsObs (batch, len(obs.Ts), LatentDim)
// standard normal draws; klWeight scales the KL as in ELBO. The prior's
// drift and diffusion are called with t = t0 (the model's are
// time-homogeneous).
func (m *Model) MatchingELBOGraph(ctx *context.Context, mc MatchingConfig, obs Observations, times, epsPath, epsObs, klWeight *Node) (ELBOTerms, error) {
	c := m.cfg
	mc = mc.withDefaults()
	if obs.X.Rank() != 3 || obs.X.Shape().Dimensions[1] != len(obs.Ts) || obs.X.Shape().Dimensions[2] != c.DataDim {
		return ELBOTerms{}, fmt.Errorf("latentsde.Model.MatchingELBOGraph: X must be shaped (batch, %d, %d), got %s", len(obs.Ts), c.DataDim, obs.X.Shape())
	}
	if len(obs.Ts) < 2 {
		return ELBOTerms{}, fmt.Errorf("latentsde.Model.MatchingELBOGraph: obs.Ts needs ≥ 2 times, got %d", len(obs.Ts))
	}
	batch, n, d := obs.X.Shape().Dimensions[0], len(obs.Ts), c.LatentDim
	if times.Rank() != 2 || times.Shape().Dimensions[0] != batch {
		return ELBOTerms{}, fmt.Errorf("latentsde.Model.MatchingELBOGraph: times must be shaped (%d, k), got %s", batch, times.Shape())
	}
	k := times.Shape().Dimensions[1]
	if !epsPath.Shape().Equal(shapes.Make(c.DType, batch, k, d)) || !epsObs.Shape().Equal(shapes.Make(c.DType, batch, n, d)) {
		return ELBOTerms{}, fmt.Errorf("latentsde.Model.MatchingELBOGraph: epsPath and epsObs must be shaped (%d, %d, %d) and (%d, %d, %d) of %s, got %s and %s",
			batch, k, d, batch, n, d, c.DType, epsPath.Shape(), epsObs.Shape())
	}
	g := obs.X.Graph()
	cs := m.matchingContexts(ctx, obs)
	t0, span, _ := matchingSpan(obs.Ts, mc)
	tNode := m.scalar(g, t0)

	// Path term at the random times.
	mg := reshapeMarginal(m.Marginals(ctx, mc, cs, obs.Ts, times), batch*k, d)
	rate := MatchingRate(ctx, m.PriorDrift, m.Diffusion, tNode, mg, graph.Reshape(epsPath, batch*k, d), c.Floor, c.OUPrior == nil)
	path := graph.MulScalar(graph.ReduceMean(graph.Reshape(rate, batch, k), -1), span)

	// KL at t0.
	m0 := reshapeMarginal(m.marginals(ctx, mc, cs, obs.Ts, graph.BroadcastToDims(m.scalar(g, t0), batch, 1), false), batch, d)
	pm, plv := m.PriorZ0(ctx, g)
	kl0 := GaussianKL(m0.Mean, graph.MulScalar(graph.Log(m0.Std), 2), pm, plv)

	// Reconstruction at the observation times.
	tObs := graph.BroadcastToDims(graph.Reshape(graph.ConstAsDType(g, c.DType, obs.Ts), 1, n), batch, n)
	mo := m.marginals(ctx, mc, cs, obs.Ts, tObs, false)
	zObs := graph.Add(mo.Mean, graph.Mul(mo.Std, epsObs))
	ll, err := c.Likelihood.LogLikelihood(obs.X, m.Decode(ctx, zObs), graph.Scalar(g, c.DType, c.ObsScale), obs.Mask)
	if err != nil {
		return ELBOTerms{}, err
	}
	return ELBO(ll, graph.Add(kl0, path), klWeight), nil
}

// MatchingPosteriorSDE returns the posterior SDE of a matching-trained
// model: drift MarginalDrift of the marginal network and the model's diffusion, Ito, diagonal
// noise. Its marginals are N(m(t), s(t)²) from z_t0 ~ N(m(t0), s(t0)²).
// cs (1, len(obsTs), ContextDim) are the sequence's stacked encoder
// contexts, shared by every row of the state, or (rows, len(obsTs),
// ContextDim), one sequence per row (nil without an encoder); the
// variables are read from the context the SDE is solved with.
func (m *Model) MatchingPosteriorSDE(mc MatchingConfig, cs *tensors.Tensor, obsTs []float64) diffeq.SDE {
	ts := append([]float64(nil), obsTs...)
	drift := func(ctx *context.Context, t, z *Node) *Node {
		g := z.Graph()
		rows, d := z.Shape().Dimensions[0], z.Shape().Dimensions[1]
		var csN *Node
		if cs != nil {
			c := graph.ConvertDType(graph.Const(g, cs), z.DType())
			switch cs.Shape().Dim(0) {
			case rows:
				csN = c
			case 1:
				csN = graph.BroadcastToDims(c, rows, len(ts), cs.Shape().Dim(-1))
			default:
				panic(fmt.Errorf("latentsde.Model.MatchingPosteriorSDE: cs holds %d sequences for a state of %d rows (want 1 or %d)", cs.Shape().Dim(0), rows, rows))
			}
		}
		tt := graph.BroadcastToDims(graph.Reshape(graph.ConvertDType(t, z.DType()), 1, 1), rows, 1)
		mg := reshapeMarginal(m.Marginals(ctx, mc, csN, ts, tt), rows, d)
		gz := m.Diffusion(ctx, t, z)
		var half *Node
		if m.cfg.OUPrior == nil {
			half = graph.Mul(gz, graph.Gradient(graph.ReduceAllSum(gz), z)[0])
		}
		return MarginalDrift(mg, z, gz, half)
	}
	return diffeq.SDE{Drift: drift, Diffusion: m.Diffusion, Noise: diffeq.Diagonal, Type: diffeq.Ito}
}

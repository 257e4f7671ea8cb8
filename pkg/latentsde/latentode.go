package latentsde

import (
	"cmp"
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/adjoint"
	"github.com/gosde/gosde/pkg/diffeq"
	"github.com/gosde/gosde/pkg/nn"
)

// ODEConfig describes a latent ODE (Rubanova et al. 2019; the spirals
// tutorial of torchdiffeq). Zero fields take the documented defaults.
type ODEConfig struct {
	DataDim, LatentDim int // required
	EncoderHidden      int // GRU width (default 25)
	// Hidden are the hidden widths of the dynamics MLP (default {20}) and
	// DecoderHidden those of the decoder MLP (default {20}).
	Hidden, DecoderHidden []int
	Activation            nn.Activation // default ELU
	Likelihood            Likelihood    // default Gaussian
	ObsScale              float64       // known observation noise (default 0.1)
	Method                diffeq.Method // ODE method of the direct graph (default RK4)
	// Dt is the largest step of the direct graph (0: one step per interval
	// between observation times).
	Dt    float64
	DType dtypes.DType // default Float32
}

func (c ODEConfig) withDefaults() ODEConfig {
	c.EncoderHidden = cmp.Or(c.EncoderHidden, 25)
	if c.Hidden == nil {
		c.Hidden = []int{20}
	}
	if c.DecoderHidden == nil {
		c.DecoderHidden = []int{20}
	}
	if c.Activation == nn.Identity {
		c.Activation = nn.ELU
	}
	c.Likelihood = cmp.Or(c.Likelihood, Gaussian)
	c.ObsScale = cmp.Or(c.ObsScale, 0.1)
	c.Method = cmp.Or(c.Method, diffeq.RK4)
	c.DType = cmp.Or(c.DType, dtypes.Float32)
	return c
}

// LatentODE is a latent ODE: a GRU encoder run backwards over (x, mask, Δt)
// gives q(z0) = N(mean, e^{logvar}); z0 ~ q evolves by dz/dt = f(z) (an
// MLP); an MLP decoder maps z(t_i) to the mean of a likelihood with known
// noise. ELBO = E_q Σ_i log p(x_i | z(t_i)) − KL(q(z0) ‖ N(0, I)).
// Variables live in scopes "encoder", "dynamics", "decoder" of the context
// given to its methods.
type LatentODE struct {
	cfg ODEConfig
}

// NewLatentODE returns a latent ODE for cfg (defaults filled in).
func NewLatentODE(cfg ODEConfig) (*LatentODE, error) {
	if cfg.DataDim < 1 || cfg.LatentDim < 1 {
		return nil, fmt.Errorf("latentsde.ODEConfig: DataDim and LatentDim must be ≥ 1, got %d and %d", cfg.DataDim, cfg.LatentDim)
	}
	if cfg.ObsScale < 0 || cfg.Dt < 0 {
		return nil, fmt.Errorf("latentsde.ODEConfig: ObsScale and Dt must be ≥ 0, got %g and %g", cfg.ObsScale, cfg.Dt)
	}
	if cfg.DType != dtypes.InvalidDType && cfg.DType != dtypes.Float32 && cfg.DType != dtypes.Float64 {
		return nil, fmt.Errorf("latentsde.ODEConfig.DType must be Float32 or Float64, got %s", cfg.DType)
	}
	cfg = cfg.withDefaults()
	if cfg.Method.NFEPerStep() == 0 {
		return nil, fmt.Errorf("latentsde.ODEConfig.Method %q is not an ODE method", cfg.Method)
	}
	if cfg.Likelihood != Gaussian && cfg.Likelihood != Laplace {
		return nil, fmt.Errorf("latentsde.ODEConfig.Likelihood: unknown %q (gaussian, laplace)", cfg.Likelihood)
	}
	return &LatentODE{cfg: cfg}, nil
}

// Config returns the configuration with defaults filled in.
func (m *LatentODE) Config() ODEConfig { return m.cfg }

// Encode returns q(z0)'s mean and log-variance (batch, LatentDim).
func (m *LatentODE) Encode(ctx *context.Context, obs Observations) (qMean, qLogVar *Node) {
	enc := ctx.Checked(false).In("encoder")
	hs := encodeGRU(enc.In("gru"), obs, m.cfg.EncoderHidden, m.cfg.DType)
	return nn.Dense(enc.In("q_mean"), hs[0], m.cfg.LatentDim, true), nn.Dense(enc.In("q_log_var"), hs[0], m.cfg.LatentDim, true)
}

// Dynamics is the latent vector field f(t, z) (autonomous).
func (m *LatentODE) Dynamics(ctx *context.Context, _, z *Node) *Node {
	return nn.MLP(ctx.Checked(false).In("dynamics"), z, m.cfg.Hidden, m.cfg.LatentDim, m.cfg.Activation)
}

// Decode maps latents to the likelihood's mean in observation space.
func (m *LatentODE) Decode(ctx *context.Context, z *Node) *Node {
	return nn.MLP(ctx.Checked(false).In("decoder"), z, m.cfg.DecoderHidden, m.cfg.DataDim, nn.ReLU)
}

// logLik returns the masked log-likelihood per sample of the latents zs at obs.Ts.
func (m *LatentODE) logLik(ctx *context.Context, obs Observations, zs []*Node) (*Node, error) {
	return obs.sumLogLik(zs, m.cfg.Likelihood, m.cfg.DType, m.cfg.ObsScale, func(z *Node) *Node { return m.Decode(ctx, z) })
}

// ELBOGraph builds the ELBO terms of a batch (the direct method: the ODE
// solve is unrolled with Method and Dt): eps0 (batch, LatentDim) is the
// standard normal of z0's reparameterisation, klWeight a scalar.
func (m *LatentODE) ELBOGraph(ctx *context.Context, obs Observations, eps0, klWeight *Node) (ELBOTerms, error) {
	qm, qlv := m.Encode(ctx, obs)
	z0 := Sample0(qm, qlv, eps0)
	zs, err := diffeq.IntegrateConst(ctx.Checked(false), m.cfg.Method, m.Dynamics, z0, obs.Ts, m.cfg.Dt)
	if err != nil {
		return ELBOTerms{}, fmt.Errorf("latentsde.LatentODE.ELBOGraph: %w", err)
	}
	ll, err := m.logLik(ctx, obs, zs)
	if err != nil {
		return ELBOTerms{}, err
	}
	return ELBO(ll, StandardNormalKL(qm, qlv), klWeight), nil
}

// Predict decodes the solve from z0 (batch, LatentDim) at the times ts:
// returns one (batch, DataDim) node per time.
func (m *LatentODE) Predict(ctx *context.Context, z0 *Node, ts []float64) ([]*Node, error) {
	zs, err := diffeq.IntegrateConst(ctx.Checked(false), m.cfg.Method, m.Dynamics, z0, ts, m.cfg.Dt)
	if err != nil {
		return nil, fmt.Errorf("latentsde.LatentODE.Predict: %w", err)
	}
	out := make([]*Node, len(zs))
	for i, z := range zs {
		out[i] = m.Decode(ctx, z)
	}
	return out, nil
}

// AdjointModel returns the latent ODE as an adjoint.Model for observation
// times obsTs: inputs [X, Mask, eps0, klWeight] as in Model.AdjointModel;
// the loss is the negative weighted ELBO.
func (m *LatentODE) AdjointModel(obsTs []float64) adjoint.Model {
	ts := append([]float64(nil), obsTs...)
	return adjoint.Model{
		Encode: func(ctx *context.Context, in []*Node) (*Node, []*Node) {
			qm, qlv := m.Encode(ctx, Observations{X: in[0], Mask: in[1], Ts: ts})
			return Sample0(qm, qlv, in[2]), []*Node{StandardNormalKL(qm, qlv)}
		},
		ODE: m.Dynamics,
		Loss: func(ctx *context.Context, zs, in, extras []*Node) *Node {
			ll, err := m.logLik(ctx, Observations{X: in[0], Mask: in[1], Ts: ts}, zs)
			if err != nil {
				panic(err)
			}
			return ELBO(ll, extras[0], in[3]).Loss
		},
	}
}

// AdjointInputs returns the adjoint trainer's inputs [X, Mask, eps0, w] for
// data and KL weight w, with eps0 drawn from (seed, step).
func (m *LatentODE) AdjointInputs(data Data, w float64, seed, step uint64) ([]*tensors.Tensor, error) {
	return adjointInputs(data, Config{DataDim: m.cfg.DataDim, LatentDim: m.cfg.LatentDim}, m.cfg.DType, w, seed, step)
}

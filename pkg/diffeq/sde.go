package diffeq

import (
	"cmp"
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// NoiseType says how the diffusion multiplies the Brownian increments.
type NoiseType string

// Noise types. d is the state size, m the number of Brownian motions.
const (
	// Diagonal: Diffusion returns (batch, d) and multiplies dW (batch, d)
	// element-wise; m = d. The default.
	Diagonal NoiseType = "diagonal"
	// Scalar: Diffusion returns (batch, d); a single Brownian motion per
	// sample, dW (batch, 1), drives every component; m = 1.
	Scalar NoiseType = "scalar"
	// Additive: Diffusion does not depend on z (it may depend on t and on
	// weights). With BrownianSize 0 it is diagonal-additive: Diffusion
	// returns (batch, d) and multiplies dW (batch, d) element-wise. With
	// BrownianSize m > 0 it is general-additive: Diffusion returns
	// (batch, d, m) and dz gets g·dW. Milstein reduces to Euler–Maruyama.
	Additive NoiseType = "additive"
	// General: Diffusion returns (batch, d, m) with m = BrownianSize, and
	// dz = f dt + g·dW (a matrix–vector product per sample).
	General NoiseType = "general"
)

// SDEType is the stochastic calculus the SDE is written in.
type SDEType string

// SDE types.
const (
	Ito          SDEType = "ito" // the default
	Stratonovich SDEType = "stratonovich"
)

// SDE is dz = Drift(t, z) dt + Diffusion(t, z) ∘ dW(t), with the product ∘
// given by Noise and the integral by Type. Drift returns (batch, d) like z;
// Diffusion returns (batch, d) or (batch, d, m) as Noise says. Zero values:
// Noise Diagonal, Type Ito.
type SDE struct {
	Drift, Diffusion Func
	Noise            NoiseType
	Type             SDEType
	// BrownianSize is m for General (required) and Additive (optional, see
	// Additive) noise; ignored otherwise.
	BrownianSize int
}

// withDefaults fills the zero fields.
func (s SDE) withDefaults() SDE {
	s.Noise = cmp.Or(s.Noise, Diagonal)
	s.Type = cmp.Or(s.Type, Ito)
	return s
}

// Validate checks the SDE's fields (not its output shapes, which need a
// state: see NoiseSize and the checks in StepSDE).
func (s SDE) Validate() error {
	s = s.withDefaults()
	if s.Drift == nil {
		return fmt.Errorf("diffeq: SDE.Drift is nil")
	}
	if s.Diffusion == nil {
		return fmt.Errorf("diffeq: SDE.Diffusion is nil")
	}
	switch s.Noise {
	case Diagonal, Scalar:
	case Additive:
		if s.BrownianSize < 0 {
			return fmt.Errorf("diffeq: SDE.BrownianSize must be ≥ 0 for additive noise, got %d", s.BrownianSize)
		}
	case General:
		if s.BrownianSize < 1 {
			return fmt.Errorf("diffeq: SDE.BrownianSize must be ≥ 1 for general noise, got %d", s.BrownianSize)
		}
	default:
		return fmt.Errorf("diffeq: SDE.Noise %q unknown (diagonal, scalar, additive, general)", s.Noise)
	}
	if s.Type != Ito && s.Type != Stratonovich {
		return fmt.Errorf("diffeq: SDE.Type %q unknown (ito, stratonovich)", s.Type)
	}
	return nil
}

// matrixNoise reports whether the diffusion is a (batch, d, m) matrix.
func (s SDE) matrixNoise() bool {
	return s.Noise == General || (s.Noise == Additive && s.BrownianSize > 0)
}

// NoiseSize returns m, the number of Brownian motions per sample, for a
// state of size d: dW is shaped (batch, m).
func (s SDE) NoiseSize(d int) int {
	s = s.withDefaults()
	switch {
	case s.matrixNoise():
		return s.BrownianSize
	case s.Noise == Scalar:
		return 1
	}
	return d
}

// DefaultSDEMethod returns the default method for an SDE type:
// EulerMaruyama for Ito, Heun for Stratonovich.
func DefaultSDEMethod(t SDEType) Method {
	if t == Stratonovich {
		return Heun
	}
	return EulerMaruyama
}

// checkSDEMethod checks that m solves SDEs of s's type and noise.
func checkSDEMethod(s SDE, m Method) error {
	s = s.withDefaults()
	switch m {
	case EulerMaruyama:
		if s.Type != Ito {
			return fmt.Errorf("diffeq: method %q solves Ito SDEs, the SDE is %s (use heun, sde_midpoint or reversible_heun)", m, s.Type)
		}
	case Milstein:
		if s.Noise == General {
			return fmt.Errorf("diffeq: method %q needs diagonal, scalar or additive noise, the SDE has general noise", m)
		}
	case Heun, SDEMidpoint, ReversibleHeun:
		if s.Type != Stratonovich {
			return fmt.Errorf("diffeq: method %q solves Stratonovich SDEs, the SDE is %s (use euler_maruyama or milstein)", m, s.Type)
		}
	default:
		return fmt.Errorf("diffeq: method %q is not an SDE method (euler_maruyama, milstein, heun, sde_midpoint, reversible_heun)", m)
	}
	return nil
}

// SDENFEPerStep returns the evaluations of (drift, diffusion) pairs per step
// of an SDE method (reversible Heun: 1, it reuses the previous step's).
func SDENFEPerStep(m Method) int {
	switch m {
	case EulerMaruyama, Milstein, ReversibleHeun:
		return 1
	case Heun, SDEMidpoint:
		return 2
	}
	return 0
}

// evalSDE evaluates drift and diffusion at (t, z) and checks their shapes.
func evalSDE(ctx *context.Context, s SDE, t, z *Node) (f, g *Node, err error) {
	ctx = ctx.Checked(false)
	f = s.Drift(ctx, t, z)
	if f == nil || !f.Shape().Equal(z.Shape()) {
		return nil, nil, fmt.Errorf("diffeq: SDE.Drift must return the state's shape %s, got %s", z.Shape(), shapeOf(f))
	}
	g = s.Diffusion(ctx, t, z)
	if err := checkDiffusion(s, z, g); err != nil {
		return nil, nil, err
	}
	return f, g, nil
}

// checkDiffusion checks g's shape against the noise type for state z.
func checkDiffusion(s SDE, z, g *Node) error {
	want := z.Shape().Clone()
	if s.matrixNoise() {
		want = shapes.Make(z.DType(), z.Shape().Dimensions[0], z.Shape().Dimensions[1], s.BrownianSize)
	}
	if g == nil || !g.Shape().Equal(want) {
		noise := string(s.Noise)
		if s.matrixNoise() {
			noise = fmt.Sprintf("%s noise with BrownianSize %d", s.Noise, s.BrownianSize)
		} else {
			noise += " noise"
		}
		return fmt.Errorf("diffeq: SDE.Diffusion with %s must return %s for state %s, got %s", noise, want, z.Shape(), shapeOf(g))
	}
	return nil
}

func shapeOf(n *Node) string {
	if n == nil {
		return "nil"
	}
	return n.Shape().String()
}

// checkNoise checks dW's shape (batch, m) for state z.
func checkNoise(s SDE, z, dW *Node) error {
	want := shapes.Make(z.DType(), z.Shape().Dimensions[0], s.NoiseSize(z.Shape().Dimensions[1]))
	if dW == nil || !dW.Shape().Equal(want) {
		return fmt.Errorf("diffeq: dW must be shaped %s for %s noise and state %s, got %s", want, s.Noise, z.Shape(), shapeOf(dW))
	}
	return nil
}

// applyNoise returns g·dW (batch, d) as the noise type says.
func applyNoise(s SDE, g, dW *Node) *Node {
	switch {
	case s.matrixNoise():
		return graph.Einsum("bdm,bm->bd", g, dW)
	case s.Noise == Scalar:
		return graph.Mul(g, graph.BroadcastToShape(dW, g.Shape()))
	}
	return graph.Mul(g, dW)
}

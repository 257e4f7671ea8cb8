package nn

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Activation is an element-wise non-linearity used between layers.
type Activation int

const (
	// Identity is f(x) = x (no activation).
	Identity Activation = iota
	// Tanh is the hyperbolic tangent, computed by FastTanh.
	Tanh
	// ELU is x for x > 0 and eˣ − 1 otherwise.
	ELU
	// ReLU is max(x, 0).
	ReLU
	// Softplus is log(1 + eˣ), computed stably.
	Softplus
	// Sigmoid is the logistic function 1 / (1 + e⁻ˣ).
	Sigmoid
)

var activationNames = [...]string{"identity", "tanh", "elu", "relu", "softplus", "sigmoid"}

// String returns the activation's lower-case name, as accepted by ParseActivation.
func (a Activation) String() string {
	if a < 0 || int(a) >= len(activationNames) {
		return fmt.Sprintf("Activation(%d)", int(a))
	}
	return activationNames[a]
}

// ParseActivation returns the Activation with the given name (see String);
// "none" and "linear" are accepted for Identity.
func ParseActivation(name string) (Activation, error) {
	switch name {
	case "none", "linear":
		return Identity, nil
	}
	for i, n := range activationNames {
		if n == name {
			return Activation(i), nil
		}
	}
	return Identity, fmt.Errorf("nn: unknown activation %q (want one of %v)", name, activationNames)
}

// Apply returns the activation applied element-wise to x. It panics on an
// unknown Activation value.
func (a Activation) Apply(x *graph.Node) *graph.Node {
	switch a {
	case Identity:
		return x
	case Tanh:
		return FastTanh(x)
	case ELU:
		return EluOf(x)
	case ReLU:
		return RectifiedLinear(x)
	case Softplus:
		// log(1+eˣ) = max(x,0) + log1p(e^{−|x|}).
		return graph.Add(graph.Max(x, graph.ScalarZero(x.Graph(), x.DType())), graph.Log1p(graph.Exp(graph.Neg(graph.Abs(x)))))
	case Sigmoid:
		return graph.Logistic(x)
	}
	panicf("nn: unknown activation %d", int(a))
	return nil
}

// EluOf returns ELU(x) = x for x > 0, exp(x) − 1 otherwise, written with
// the 0/1 mask m = [x > 0] as x·m + (exp(x·(1−m)) − 1)·(1−m): the exponential
// never sees a positive input, so the unused branch and its gradient stay
// finite, and forward and gradient are element-wise products and sums,
// which the pure-Go backend runs with its fastest kernels. (GoMLX v0.26.0
// defines no gradient for Expm1; exp(x) − 1 is exact to one ulp of 1. The
// gradient of Min or Where would build full-size zero tensors.)
func EluOf(x *graph.Node) *graph.Node {
	pos := graph.ConvertDType(graph.GreaterThan(x, graph.ScalarZero(x.Graph(), x.DType())), x.DType())
	neg := graph.OneMinus(pos)
	return graph.Add(graph.Mul(x, pos), graph.Mul(graph.AddScalar(graph.Exp(graph.Mul(x, neg)), -1), neg))
}

// FastTanh returns tanh(x) computed as 2σ(2x) − 1, which is exact in real
// arithmetic. On GoMLX's pure-Go backend the logistic function σ costs about
// a third of Tanh. The absolute error is a few units of the dtype's machine
// epsilon (measured: 3.3e-16 in float64, 6e-8 in float32); for
// |x| ≪ 1 the relative error is larger than that of a native Tanh.
//
// The doublings are written as x + x: GoMLX's gradient of a product with a
// scalar first broadcasts the scalar to the operand's shape.
func FastTanh(x *graph.Node) *graph.Node {
	s := graph.Logistic(graph.Add(x, x))
	return graph.AddScalar(graph.Add(s, s), -1)
}

// MLP is a multi-layer perceptron on the last axis of x: one Dense layer (with
// bias) per entry of hidden, each followed by act, then a final linear Dense
// layer to outDim. Layer i has its variables in scope "layer_i" of ctx
// (layer_0 … layer_len(hidden)). x is shaped [..., in]; the result [..., outDim].
func MLP(ctx *context.Context, x *graph.Node, hidden []int, outDim int, act Activation) *graph.Node {
	if act < 0 || int(act) >= len(activationNames) {
		panicf("nn.MLP: unknown activation %d", int(act))
	}
	for i, h := range hidden {
		if h < 1 {
			panicf("nn.MLP: hidden[%d] must be >= 1, got %d", i, h)
		}
		x = act.Apply(Dense(ctx.Inf("layer_%d", i), x, h, true))
	}
	return Dense(ctx.Inf("layer_%d", len(hidden)), x, outDim, true)
}

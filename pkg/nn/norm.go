package nn

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
)

// GroupNormEpsilon is added to the variance in GroupNorm (PyTorch's default).
const GroupNormEpsilon = 1e-5

// GroupNorm is group normalisation (Wu & He, 2018) of channels-last x shaped
// (batch, …, channels): the channels are split into groups of consecutive
// channels, and each example's values in a group (over all spatial
// positions) are normalised to mean 0 and variance 1 (biased variance plus
// GroupNormEpsilon), then scaled and shifted per channel by the learned
// "gain" (initially 1) and "offset" (initially 0) variables in ctx.
// channels must be divisible by groups; groups = channels is instance
// norm, groups = 1 layer norm over all non-batch axes.
func GroupNorm(ctx *context.Context, x *graph.Node, groups int) *graph.Node {
	if x.Rank() < 2 {
		panic(fmt.Errorf("nn.GroupNorm: x must be (batch, …, channels), got shape %s", x.Shape()))
	}
	dims := x.Shape().Dimensions
	c := dims[len(dims)-1]
	if groups < 1 || c%groups != 0 {
		panic(fmt.Errorf("nn.GroupNorm: groups must divide the %d channels, got %d", c, groups))
	}
	g := x.Graph()
	gain := ctx.WithInitializer(initializers.One).VariableWithShape("gain", shapes.Make(x.DType(), c)).ValueGraph(g)
	offset := ctx.WithInitializer(initializers.Zero).VariableWithShape("offset", shapes.Make(x.DType(), c)).ValueGraph(g)
	return GroupNormWith(x, groups, gain, offset)
}

// GroupNormWith is GroupNorm with the per-channel gain and offset given
// (either may be nil for none).
func GroupNormWith(x *graph.Node, groups int, gain, offset *graph.Node) *graph.Node {
	dims := x.Shape().Dimensions
	b, c := dims[0], dims[len(dims)-1]
	if groups < 1 || c%groups != 0 {
		panic(fmt.Errorf("nn.GroupNormWith: groups must divide the %d channels, got %d", c, groups))
	}
	xg := graph.Reshape(x, b, -1, groups, c/groups)
	mean := graph.ReduceAndKeep(xg, graph.ReduceMean, 1, 3)
	centred := graph.Sub(xg, mean)
	variance := graph.ReduceAndKeep(graph.Square(centred), graph.ReduceMean, 1, 3)
	y := graph.Div(centred, graph.Sqrt(graph.AddScalar(variance, GroupNormEpsilon)))
	y = graph.Reshape(y, dims...)
	bshape := make([]int, len(dims))
	for i := range bshape {
		bshape[i] = 1
	}
	bshape[len(dims)-1] = c
	if gain != nil {
		y = graph.Mul(y, graph.Reshape(gain, bshape...))
	}
	if offset != nil {
		y = graph.Add(y, graph.Reshape(offset, bshape...))
	}
	return y
}

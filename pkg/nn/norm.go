package nn

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"

	"github.com/gosde/gosde/pkg/backend"
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
//
// It has a hand-written gradient,
// dx = r·(dy·gain − mean_g(dy·gain) − x̂·mean_g(dy·gain·x̂)) with x̂ the
// normalised input and r the reciprocal standard deviation of its group,
// and it broadcasts per-(example, channel) values over the spatial
// positions by concatenation: GoMLX's pure-Go backend runs generic
// broadcasts and multi-axis reductions element by element, several times
// slower than these.
func GroupNormWith(x *graph.Node, groups int, gain, offset *graph.Node) *graph.Node {
	dims := x.Shape().Dimensions
	b, c := dims[0], dims[len(dims)-1]
	if groups < 1 || c%groups != 0 {
		panic(fmt.Errorf("nn.GroupNormWith: groups must divide the %d channels, got %d", c, groups))
	}
	s := x.Shape().Size() / (b * c) // spatial positions
	cg := c / groups
	count := float64(s * cg) // values per group
	x3 := graph.Reshape(graph.StopGradient(x), b, s, c)
	// groupMean averages per-(example, channel) sums (b, c) over the
	// channels of each group and the positions, back on the channels.
	groupMean := func(sums *graph.Node) *graph.Node {
		m := graph.ReduceSum(graph.Reshape(sums, b, groups, cg), 2)
		m = graph.BroadcastToDims(graph.Reshape(m, b, groups, 1), b, groups, cg)
		return graph.MulScalar(graph.Reshape(m, b, c), 1/count)
	}
	// spread broadcasts (b, c) to (b, s, c): on the pure-Go backend with
	// gosde's broadcasting kernels, not at all (the element-wise operations
	// read (b, 1, c) in place); otherwise by concatenation there (simplego's
	// generic broadcast is slower) and by BroadcastToDims elsewhere.
	spread := func(v *graph.Node) *graph.Node {
		v = graph.Reshape(v, b, 1, c)
		if s == 1 || (isEmbedded(x.Graph()) && backend.FastBroadcast() && x.DType() == dtypes.Float32) {
			return v
		}
		if !isEmbedded(x.Graph()) {
			return graph.BroadcastToDims(v, b, s, c)
		}
		parts := make([]*graph.Node, s)
		for i := range parts {
			parts[i] = v
		}
		return graph.Concatenate(parts, 1)
	}
	// spatialSum sums (b, s, c) over the positions: on the pure-Go backend
	// without gosde's reduction kernel, by a matrix product with a 0/1
	// indicator (s·c, c) when that is small (the product runs on the fast
	// kernel; simplego reduces a middle axis element by element).
	var ind *graph.Node
	if s > 1 && s*c <= maxIndicatorRows && isEmbedded(x.Graph()) && !backend.FastReduce() {
		ind = sumIndicator(x.Graph(), x.DType(), s, c)
	}
	spatialSum := func(v *graph.Node) *graph.Node {
		if ind == nil {
			return graph.ReduceSum(v, 1)
		}
		return graph.Dot(graph.Reshape(v, b, s*c), ind)
	}
	mean := groupMean(spatialSum(x3))
	centred := graph.Sub(x3, spread(mean))
	variance := groupMean(spatialSum(graph.Mul(centred, centred)))
	r := graph.Reciprocal(graph.Sqrt(graph.AddScalar(variance, GroupNormEpsilon))) // (b, c)
	scale := r
	var gainRow *graph.Node
	if gain != nil {
		gainRow = graph.Reshape(graph.StopGradient(gain), 1, c)
		scale = graph.Mul(r, gainRow)
	}
	inputs := []*graph.Node{x}
	if gain != nil {
		inputs = append(inputs, gain)
	}
	if offset != nil {
		inputs = append(inputs, offset)
	}
	var sumsOf, sumDy, sumDyC *graph.Node // Σ_s dy and Σ_s dy·centred, (b, c), for dy = sumsOf
	sums := func(dy *graph.Node) {
		if sumsOf != dy {
			sumsOf = dy
			dy3 := graph.Reshape(dy, b, s, c)
			sumDy = spatialSum(dy3)
			sumDyC = spatialSum(graph.Mul(dy3, centred))
		}
	}
	var spreadScale *graph.Node // the scale on every position (set below)
	link, finish := tie(inputs, x.DType(), func(dy *graph.Node, input int) *graph.Node {
		sums(dy)
		if input > 0 && (gain == nil || input == 2) { // offset
			return graph.ReduceSum(sumDy, 0)
		}
		if input == 1 { // gain: Σ dy·x̂
			return graph.ReduceSum(graph.Mul(sumDyC, r), 0)
		}
		dy3 := graph.Reshape(dy, b, s, c)
		dyg, dygc := sumDy, sumDyC
		if gain != nil {
			dyg, dygc = graph.Mul(sumDy, gainRow), graph.Mul(sumDyC, gainRow)
		}
		m1 := groupMean(dyg)                // mean of dy·gain
		m2 := graph.Mul(groupMean(dygc), r) // mean of dy·gain·x̂
		p := graph.Mul(r, m1)               // r·m1
		q := graph.Mul(graph.Mul(r, r), m2) // r²·m2
		dx := graph.Sub(graph.Mul(dy3, spreadScale), spread(p))
		dx = graph.Sub(dx, graph.Mul(centred, spread(q)))
		return graph.Reshape(dx, dims...)
	})
	spreadScale = spread(graph.Add(scale, link))
	y := graph.Mul(centred, spreadScale)
	if offset != nil {
		y = graph.Add(y, graph.Reshape(graph.StopGradient(offset), 1, 1, c))
	}
	return finish(graph.Reshape(y, dims...))
}

// RectifiedLinear is max(x, 0) (as the ReLU activation), with the gradient
// dy·step(x) written by hand (GoMLX's gradient of Max builds several
// element-wise passes, each a generic loop on the pure-Go backend); a graph
// without gradients computes only the Max.
func RectifiedLinear(x *graph.Node) *graph.Node {
	xs := graph.StopGradient(x)
	var y *graph.Node
	link, finish := tie([]*graph.Node{x}, x.DType(), func(dy *graph.Node, _ int) *graph.Node {
		return graph.Mul(dy, graph.Sign(y))
	})
	y = graph.Max(xs, link)
	return finish(y)
}

// maxIndicatorRows bounds the rows of GroupNormWith's summing matrix.
const maxIndicatorRows = 4096

// sumIndicator returns the constant (s·c, c) matrix with ones at
// (p·c + q, q): a (b, s·c) matrix times it sums over the s positions. It is
// nil for dtypes other than float32 and float64.
func sumIndicator(g *graph.Graph, dtype dtypes.DType, s, c int) *graph.Node {
	switch dtype {
	case dtypes.Float32:
		return graph.Const(g, indicator[float32](s, c))
	case dtypes.Float64:
		return graph.Const(g, indicator[float64](s, c))
	}
	return nil
}

// indicator is sumIndicator's matrix as a tensor.
func indicator[T float32 | float64](s, c int) *tensors.Tensor {
	d := make([]T, s*c*c)
	for i := 0; i < s*c; i++ {
		d[i*c+i%c] = 1
	}
	return tensors.FromFlatDataAndDimensions(d, s*c, c)
}

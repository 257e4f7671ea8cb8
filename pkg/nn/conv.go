package nn

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
)

// Conv2D is a 2-D convolution layer on channels-last images x shaped
// (batch, height, width, channels): a kernel×kernel kernel with the given
// stride and symmetric zero padding, outChannels output channels, and a bias
// if bias is true. Its variables live in ctx ("weights" shaped (kernel,
// kernel, in, out) and "biases" (out)) and start uniform in ±1/√fan_in as in
// PyTorch's default.
//
// It is computed by im2col (shifted slices concatenated along the channels,
// then one matrix product) with a hand-written gradient made of two matrix
// products and a col2im of shifted zero paddings, so it runs fast on GoMLX's
// pure-Go backend and needs neither Pad nor Reverse there. A stride s > 1
// needs a kernel size divisible by s (the convolution is rewritten as a
// stride-1 one on a space-to-depth rearrangement of the input).
func Conv2D(ctx *context.Context, x *graph.Node, outChannels, kernel, stride, padding int, bias bool) *graph.Node {
	if x.Rank() != 4 {
		panic(fmt.Errorf("nn.Conv2D: x must be (batch, height, width, channels), got shape %s", x.Shape()))
	}
	in := x.Shape().Dimensions[3]
	bound := 1 / math.Sqrt(float64(in*kernel*kernel))
	init := initializers.RandomUniformFn(ctx, -bound, bound)
	w := ctx.WithInitializer(init).VariableWithShape("weights",
		shapes.Make(x.DType(), kernel, kernel, in, outChannels)).ValueGraph(x.Graph())
	y := Conv2DWith(x, w, stride, padding)
	if bias {
		b := ctx.WithInitializer(init).VariableWithShape("biases", shapes.Make(x.DType(), outChannels)).ValueGraph(x.Graph())
		y = graph.Add(y, graph.Reshape(b, 1, 1, 1, outChannels))
	}
	return y
}

// ConcatConv2D is Conv2D applied to x with the time t (a scalar node)
// appended as one more constant input channel, as in the ODE-Net dynamics of
// Chen et al. (2018): the kernel has in+1 input channels.
func ConcatConv2D(ctx *context.Context, t, x *graph.Node, outChannels, kernel, stride, padding int, bias bool) *graph.Node {
	if x.Rank() != 4 {
		panic(fmt.Errorf("nn.ConcatConv2D: x must be (batch, height, width, channels), got shape %s", x.Shape()))
	}
	if t.Rank() != 0 {
		t = graph.Reshape(t)
	}
	if t.DType() != x.DType() {
		t = graph.ConvertDType(t, x.DType())
	}
	d := x.Shape().Dimensions
	tt := graph.BroadcastToDims(t, d[0], d[1], d[2], 1)
	return Conv2D(ctx, graph.Concatenate([]*graph.Node{x, tt}, 3), outChannels, kernel, stride, padding, bias)
}

// Conv2DWith convolves x (batch, height, width, in) with the kernel w
// (kh, kw, in, out), with the given stride and symmetric zero padding (no
// kernel flip: the cross-correlation of deep-learning libraries). See Conv2D.
func Conv2DWith(x, w *graph.Node, stride, padding int) *graph.Node {
	if x.Rank() != 4 || w.Rank() != 4 || x.Shape().Dimensions[3] != w.Shape().Dimensions[2] {
		panic(fmt.Errorf("nn.Conv2DWith: want x (batch, h, w, in) and kernel (kh, kw, in, out), got shapes %s and %s", x.Shape(), w.Shape()))
	}
	if stride < 1 || padding < 0 {
		panic(fmt.Errorf("nn.Conv2DWith: want stride ≥ 1 and padding ≥ 0, got %d and %d", stride, padding))
	}
	// Rows and columns past the last window are never read: pad less after
	// the image so that the padded size is exactly what the windows cover.
	xd, wd := x.Shape().Dimensions, w.Shape().Dimensions
	after := [2]int{}
	for a := 0; a < 2; a++ {
		n := xd[1+a] + 2*padding
		if n < wd[a] {
			panic(fmt.Errorf("nn.Conv2DWith: kernel %d×%d larger than the padded image %d×%d", wd[0], wd[1], xd[1]+2*padding, xd[2]+2*padding))
		}
		used := wd[a] + stride*((n-wd[a])/stride)
		after[a] = padding - (n - used)
		if after[a] < 0 {
			panic(fmt.Errorf("nn.Conv2DWith: stride %d with padding %d leaves %d unused rows/columns of the image on axis %d (not supported: trim the image)",
				stride, padding, -after[a], 1+a))
		}
	}
	xp := zeroPad(x, 1, padding, after[0])
	xp = zeroPad(xp, 2, padding, after[1])
	if stride == 1 {
		return conv2DValid(xp, w)
	}
	s := stride
	xd = xp.Shape().Dimensions
	if wd[0]%s != 0 || wd[1]%s != 0 {
		panic(fmt.Errorf("nn.Conv2DWith: stride %d needs kernel sizes divisible by it, got kernel %d×%d", s, wd[0], wd[1]))
	}
	// Space to depth: (B, H, W, C) → (B, H/s, W/s, s·s·C), and the kernel
	// (kh, kw, C, O) → (kh/s, kw/s, s·s·C, O) with the same (s, s, C) order.
	b, h, wi, c := xd[0], xd[1], xd[2], xd[3]
	xs := graph.Reshape(xp, b, h/s, s, wi/s, s, c)
	xs = graph.TransposeAllAxes(xs, 0, 1, 3, 2, 4, 5)
	xs = graph.Reshape(xs, b, h/s, wi/s, s*s*c)
	o := wd[3]
	ws := graph.Reshape(w, wd[0]/s, s, wd[1]/s, s, c, o)
	ws = graph.TransposeAllAxes(ws, 0, 2, 1, 3, 4, 5)
	ws = graph.Reshape(ws, wd[0]/s, wd[1]/s, s*s*c, o)
	return conv2DValid(xs, ws)
}

// zeroPad pads axis of x with before and after zeros, by concatenation (whose
// gradient is a plain slice).
func zeroPad(x *graph.Node, axis, before, after int) *graph.Node {
	if before == 0 && after == 0 {
		return x
	}
	parts := make([]*graph.Node, 0, 3)
	zeros := func(n int) *graph.Node {
		d := x.Shape().Clone().Dimensions
		d[axis] = n
		return graph.Zeros(x.Graph(), shapes.Make(x.DType(), d...))
	}
	if before > 0 {
		parts = append(parts, zeros(before))
	}
	parts = append(parts, x)
	if after > 0 {
		parts = append(parts, zeros(after))
	}
	return graph.Concatenate(parts, axis)
}

// conv2DValid is the stride-1 convolution without padding of x (B, H, W, C)
// with w (kh, kw, C, O), by im2col, with a hand-written gradient.
func conv2DValid(x, w *graph.Node) *graph.Node {
	xd, wd := x.Shape().Dimensions, w.Shape().Dimensions
	b, h, wi, c := xd[0], xd[1], xd[2], xd[3]
	kh, kw, o := wd[0], wd[1], wd[3]
	ho, wo := h-kh+1, wi-kw+1
	if ho < 1 || wo < 1 {
		panic(fmt.Errorf("nn: convolution kernel %d×%d larger than the padded image %d×%d", kh, kw, h, wi))
	}
	m, k := b*ho*wo, kh*kw*c
	xs, wsg := graph.StopGradient(x), graph.StopGradient(w)
	var patches *graph.Node
	if kh == 1 && kw == 1 {
		patches = graph.Reshape(xs, m, k)
	} else {
		taps := make([]*graph.Node, 0, kh*kw)
		for i := 0; i < kh; i++ {
			for j := 0; j < kw; j++ {
				taps = append(taps, graph.Slice(xs, graph.AxisRange(), graph.AxisRange(i, i+ho),
					graph.AxisRange(j, j+wo), graph.AxisRange()))
			}
		}
		patches = graph.Reshape(graph.Concatenate(taps, 3), m, k)
	}
	w2 := graph.Reshape(wsg, k, o)
	y := graph.Reshape(graph.Dot(patches, w2), b, ho, wo, o)
	return withGradient([]*graph.Node{x, w}, y, func(dy *graph.Node) []*graph.Node {
		dy2 := graph.Reshape(dy, m, o)
		dw := graph.Reshape(graph.DotGeneral(patches, []int{0}, nil, dy2, []int{0}, nil), kh, kw, c, o) // patchesᵀ·dy
		dp := graph.Reshape(graph.DotGeneral(dy2, []int{1}, nil, w2, []int{1}, nil), b, ho, wo, k)      // dy·wᵀ
		// col2im: tap (i, j) of the patches came from x[:, i:i+ho, j:j+wo, :].
		var dx *graph.Node
		for i := 0; i < kh; i++ {
			var row *graph.Node
			for j := 0; j < kw; j++ {
				t := (i*kw + j) * c
				tap := dp
				if k != c {
					tap = graph.Slice(dp, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(), graph.AxisRange(t, t+c))
				}
				tap = zeroPad(tap, 2, j, kw-1-j)
				if row == nil {
					row = tap
				} else {
					row = graph.Add(row, tap)
				}
			}
			row = zeroPad(row, 1, i, kh-1-i)
			if dx == nil {
				dx = row
			} else {
				dx = graph.Add(dx, row)
			}
		}
		return []*graph.Node{dx, dw}
	})
}

// withGradient returns value (computed from stopped copies of inputs) tied to
// inputs so that reverse-mode autodiff gives inputs the gradients grads(dy),
// where dy is the gradient with respect to the returned node. GoMLX's custom
// gradients exist only for identities, so the tie is: each input goes
// through an identity with a custom gradient into a zero that is added to
// value; a custom identity on the result records dy, which the input
// identities (reached later in the backward pass) use. This avoids GoMLX's
// generic DotGeneral gradient, which materialises a (rows, inner, cols)
// product on the pure-Go backend.
func withGradient(inputs []*graph.Node, value *graph.Node, grads func(dy *graph.Node) []*graph.Node) *graph.Node {
	var dy *graph.Node
	var gs []*graph.Node
	out := value
	for i, in := range inputs {
		tied := graph.IdentityWithCustomGradient(in, func(_, v *graph.Node) *graph.Node {
			if dy == nil {
				panic("nn: internal error: custom gradient reached before its output's gradient")
			}
			if gs == nil {
				gs = grads(dy)
			}
			// v is zero; adding it keeps every backward node in use.
			return graph.Add(gs[i], v)
		})
		// A zero that depends on tied, so that autodiff visits it: Where (not
		// a multiplication by 0) keeps it 0 if the input holds Inf or NaN.
		link := graph.Where(graph.Const(in.Graph(), false), graph.ReduceAllSum(tied), graph.ScalarZero(in.Graph(), value.DType()))
		out = graph.Add(out, link)
	}
	return graph.IdentityWithCustomGradient(out, func(_, v *graph.Node) *graph.Node {
		dy, gs = v, nil
		return v
	})
}

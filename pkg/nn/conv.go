package nn

import (
	"fmt"
	"math"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"

	"github.com/gosde/gosde/pkg/backend"
)

// Conv2D is a 2-D convolution layer on channels-last images x shaped
// (batch, height, width, channels): a kernel×kernel kernel with the given
// stride and symmetric zero padding, outChannels output channels, and a bias
// if bias is true. Its variables live in ctx ("weights" shaped (kernel,
// kernel, in, out) and "biases" (out)) and start uniform in ±1/√fan_in as in
// PyTorch's default.
//
// On GoMLX's pure-Go backend a float32 convolution is one ConvGeneral run by
// gosde's convolution kernel (pkg/backend: cache-sized blocks of patches
// times the kernel on the register-blocked matrix product), with a
// hand-written gradient of two more (input and kernel gradients), so it needs
// neither Pad nor Reverse; without that kernel (GOSDE_FAST_KERNELS=-conv, or
// other dtypes) it is a sum over the kernel taps of matrix products (shifted
// windows of the input times the tap's weights) with a gradient of matrix
// products and shifted zero paddings. Other backends (XLA) run their native
// convolution for odd kernel sizes. A stride s > 1 needs a kernel size
// divisible by s (the convolution is rewritten as a stride-1 one on a
// space-to-depth rearrangement of the input).
func Conv2D(ctx *context.Context, x *graph.Node, outChannels, kernel, stride, padding int, bias bool) *graph.Node {
	if x.Rank() != 4 {
		panic(fmt.Errorf("nn.Conv2D: x must be (batch, height, width, channels), got shape %s", x.Shape()))
	}
	w, b := convVariables(ctx, x, x.Shape().Dimensions[3], outChannels, kernel, bias)
	return conv2D(x, w, b, stride, padding)
}

// convVariables returns the weights (kernel, kernel, in, out) and the biases
// (out; nil if bias is false) of a convolution layer in ctx, for graphs of x.
func convVariables(ctx *context.Context, x *graph.Node, in, outChannels, kernel int, bias bool) (w, b *graph.Node) {
	bound := 1 / math.Sqrt(float64(in*kernel*kernel))
	init := initializers.RandomUniformFn(ctx, -bound, bound)
	w = ctx.WithInitializer(init).VariableWithShape("weights",
		shapes.Make(x.DType(), kernel, kernel, in, outChannels)).ValueGraph(x.Graph())
	if bias {
		b = ctx.WithInitializer(init).VariableWithShape("biases", shapes.Make(x.DType(), outChannels)).ValueGraph(x.Graph())
	}
	return w, b
}

// ConcatConv2D is Conv2D applied to x with the time t (a scalar node)
// appended as one more constant input channel, as in the ODE-Net dynamics of
// Chen et al. (2018): the kernel has in+1 input channels.
//
// The time channel is not materialised: its contribution, t times the
// convolution of a zero-padded image of ones with the kernel's last input
// channel, is a (height, width, out) map added with the bias, so the
// convolution proper runs on the in channels of x.
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
	in := d[3]
	w, b := convVariables(ctx, x, in+1, outChannels, kernel, bias)
	all := graph.AxisRange()
	wx := graph.Slice(w, all, all, graph.AxisRange(0, in), all)
	wt := graph.Slice(w, all, all, graph.AxisRange(in, in+1), all)
	ones := graph.Ones(x.Graph(), shapes.Make(x.DType(), 1, d[1], d[2], 1))
	tmap := graph.Mul(Conv2DWith(ones, wt, stride, padding), t) // (1, ho, wo, out)
	md := tmap.Shape().Dimensions
	tmap = graph.Reshape(tmap, md[1], md[2], md[3])
	if b != nil {
		tmap = graph.Add(tmap, graph.Reshape(b, 1, 1, outChannels))
	}
	return conv2D(x, wx, tmap, stride, padding)
}

// Conv2DWith convolves x (batch, height, width, in) with the kernel w
// (kh, kw, in, out), with the given stride and symmetric zero padding (no
// kernel flip: the cross-correlation of deep-learning libraries). See Conv2D.
func Conv2DWith(x, w *graph.Node, stride, padding int) *graph.Node {
	return conv2D(x, w, nil, stride, padding)
}

// conv2D is Conv2DWith plus the bias b, if not nil: per output channel
// (out), or per output position and channel (ho, wo, out).
func conv2D(x, w, b *graph.Node, stride, padding int) *graph.Node {
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
	if stride == 1 {
		pads := [2][2]int{{padding, after[0]}, {padding, after[1]}}
		if useConvKernel(x, wd, pads) {
			return convKernel(x, w, b, pads)
		}
	}
	xp := zeroPad(x, 1, padding, after[0])
	xp = zeroPad(xp, 2, padding, after[1])
	if stride == 1 {
		return conv2DValid(xp, w, b)
	}
	s := stride
	xd = xp.Shape().Dimensions
	if wd[0]%s != 0 || wd[1]%s != 0 {
		panic(fmt.Errorf("nn.Conv2DWith: stride %d needs kernel sizes divisible by it, got kernel %d×%d", s, wd[0], wd[1]))
	}
	// Space to depth: (B, H, W, C) → (B, H/s, W/s, s·s·C), and the kernel
	// (kh, kw, C, O) → (kh/s, kw/s, s·s·C, O) with the same (s, s, C) order.
	n, h, wi, c := xd[0], xd[1], xd[2], xd[3]
	xs := graph.Reshape(xp, n, h/s, s, wi/s, s, c)
	xs = graph.TransposeAllAxes(xs, 0, 1, 3, 2, 4, 5)
	xs = graph.Reshape(xs, n, h/s, wi/s, s*s*c)
	o := wd[3]
	ws := graph.Reshape(w, wd[0]/s, s, wd[1]/s, s, c, o)
	ws = graph.TransposeAllAxes(ws, 0, 2, 1, 3, 4, 5)
	ws = graph.Reshape(ws, wd[0]/s, wd[1]/s, s*s*c, o)
	return conv2DValid(xs, ws, b)
}

// isEmbedded reports whether g runs on GoMLX's pure-Go backend (simplego,
// wrapped or not), where the layers here use their hand-written kernels.
func isEmbedded(g *graph.Graph) bool { return strings.Contains(g.Backend().Name(), "(go)") }

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
// with w (kh, kw, C, O), plus the bias b ((O) or (Ho, Wo, O)) if not nil, as a sum over the
// kernel taps of matrix products tap·w_tap (tap: a shifted window of x), with
// a hand-written gradient: dw_tap = tapᵀ·dy, db = 1ᵀ·dy, and dx the sum over
// the taps of dy·w_tapᵀ, each zero-padded into place. (One product per tap
// instead of im2col's single product saves copying the taps into one patch
// matrix, forward and backward.)
func conv2DValid(x, w, b *graph.Node) *graph.Node {
	xd, wd := x.Shape().Dimensions, w.Shape().Dimensions
	n, h, wi, c := xd[0], xd[1], xd[2], xd[3]
	kh, kw, o := wd[0], wd[1], wd[3]
	ho, wo := h-kh+1, wi-kw+1
	if ho < 1 || wo < 1 {
		panic(fmt.Errorf("nn: convolution kernel %d×%d larger than the padded image %d×%d", kh, kw, h, wi))
	}
	if kh%2 == 1 && kw%2 == 1 && !isEmbedded(x.Graph()) {
		// Backends with a native convolution (XLA) run it, and its gradient,
		// far faster than the per-tap graph. (Under XLA, GoMLX v0.26's
		// convolution gradient with respect to the input was wrong for the
		// 2×2 kernels of the stride-2 rewrite in TestConv2DAgainstReference,
		// and odd kernels matched: even kernels keep the per-tap graph.)
		y := graph.Convolve(x, w).NoPadding().Done()
		if b != nil {
			y = graph.Add(y, graph.Reshape(b, append([]int{1, 1, 1, 1}[:4-b.Rank()], b.Shape().Dimensions...)...))
		}
		return y
	}
	if useConvKernel(x, wd, [2][2]int{}) {
		return convKernel(x, w, b, [2][2]int{})
	}
	m, k := n*ho*wo, kh*kw*c
	xs, wsg := graph.StopGradient(x), graph.StopGradient(w)
	// taps[t] (m, c) is tap t = (i, j) of the patches, x[:, i:i+ho, j:j+wo, :].
	taps := make([]*graph.Node, 0, kh*kw)
	for i := 0; i < kh; i++ {
		for j := 0; j < kw; j++ {
			tap := xs
			if ho != h || wo != wi {
				tap = graph.Slice(xs, graph.AxisRange(), graph.AxisRange(i, i+ho), graph.AxisRange(j, j+wo), graph.AxisRange())
			}
			taps = append(taps, graph.Reshape(tap, m, c))
		}
	}
	w2 := graph.Reshape(wsg, k, o)
	// wTap returns the rows of w2 (c, o) of tap t.
	wTap := func(w2 *graph.Node, t int) *graph.Node {
		if k == c {
			return w2
		}
		return graph.Slice(w2, graph.AxisRange(t*c, (t+1)*c), graph.AxisRange())
	}
	inputs := []*graph.Node{x, w}
	if b != nil {
		inputs = append(inputs, b)
	}
	link, finish := tie(inputs, x.DType(), func(dy *graph.Node, input int) *graph.Node {
		dy2 := graph.Reshape(dy, m, o)
		switch input {
		case 1: // tapᵀ·dy for each tap
			dws := make([]*graph.Node, len(taps))
			for t, tap := range taps {
				dws[t] = graph.DotGeneral(tap, []int{0}, nil, dy2, []int{0}, nil)
			}
			return graph.Reshape(graph.Concatenate(dws, 0), kh, kw, c, o)
		case 2: // 1ᵀ·dy
			return biasGrad(dy, b)
		}
		// col2im: tap (i, j) of the patches came from x[:, i:i+ho, j:j+wo, :].
		var dx *graph.Node
		for i := 0; i < kh; i++ {
			var row *graph.Node
			for j := 0; j < kw; j++ {
				wt := wTap(w2, i*kw+j)
				tap := graph.Reshape(graph.DotGeneral(dy2, []int{1}, nil, wt, []int{1}, nil), n, ho, wo, c) // dy·w_tapᵀ
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
		return dx
	})
	wl := graph.Add(w2, link)
	var y *graph.Node
	for t, tap := range taps {
		yt := graph.Dot(tap, wTap(wl, t))
		if y == nil {
			y = yt
		} else {
			y = graph.Add(y, yt)
		}
	}
	if b != nil {
		y = addBias(y, b, n)
	}
	return finish(graph.Reshape(y, n, ho, wo, o))
}

// useConvKernel reports whether a stride-1 convolution with kernel
// dimensions wd and paddings pads runs as ConvGeneral on gosde's kernel of
// the pure-Go backend (pkg/backend): float32, on that backend, with the
// kernel installed, and with paddings below the kernel size (so that the input
// gradient is a convolution with non-negative paddings).
func useConvKernel(x *graph.Node, wd []int, pads [2][2]int) bool {
	if x.DType() != dtypes.Float32 || !isEmbedded(x.Graph()) || !backend.FastConv() {
		return false
	}
	for a := range 2 {
		if pads[a][0] > wd[a]-1 || pads[a][1] > wd[a]-1 {
			return false
		}
	}
	return true
}

// convKernel is the stride-1 convolution of x (B, H, W, C) with w (kh, kw,
// C, O) and paddings pads (rows, columns; before, after), plus the bias b
// ((O) or (Ho, Wo, O)) if not nil, as one ConvGeneral, with a hand-written
// gradient of two more: dx is dy convolved with the kernel flipped in space
// and transposed to (kh, kw, O, C), with paddings k−1−p; dw is the
// convolution of x with dy in backend.ConvKernelGradAxes (Σ patchᵀ·dy).
func convKernel(x, w, b *graph.Node, pads [2][2]int) *graph.Node {
	wd := w.Shape().Dimensions
	kh, kw, c, o := wd[0], wd[1], wd[2], wd[3]
	strides := []int{1, 1}
	fwd := [][2]int{pads[0], pads[1]}
	xs, wsg := graph.StopGradient(x), graph.StopGradient(w)
	inputs := []*graph.Node{x, w}
	if b != nil {
		inputs = append(inputs, b)
	}
	link, finish := tie(inputs, x.DType(), func(dy *graph.Node, input int) *graph.Node {
		switch input {
		case 1:
			return graph.ConvGeneral(xs, dy, backend.ConvKernelGradAxes, strides, fwd, nil, nil, 1, 1)
		case 2:
			return biasGrad(dy, b)
		}
		// The kernel flipped in space (tap t → kh·kw−1−t) and transposed.
		taps := graph.Reshape(wsg, kh*kw, c, o)
		flipped := make([]*graph.Node, kh*kw)
		for t := range flipped {
			flipped[t] = graph.Slice(taps, graph.AxisRange(kh*kw-1-t, kh*kw-t), graph.AxisRange(), graph.AxisRange())
		}
		wf := graph.Reshape(graph.TransposeAllAxes(graph.Concatenate(flipped, 0), 0, 2, 1), kh, kw, o, c)
		back := [][2]int{{kh - 1 - pads[0][0], kh - 1 - pads[0][1]}, {kw - 1 - pads[1][0], kw - 1 - pads[1][1]}}
		return graph.ConvGeneral(dy, wf, backend.ConvImagesAxes, strides, back, nil, nil, 1, 1)
	})
	y := graph.ConvGeneral(xs, graph.Add(wsg, link), backend.ConvImagesAxes, strides, fwd, nil, nil, 1, 1)
	if b != nil {
		yd := y.Shape().Dimensions
		y = graph.Reshape(addBias(graph.Reshape(y, yd[0]*yd[1]*yd[2], o), b, yd[0]), yd...)
	}
	return finish(y)
}

// addBias adds the bias b to y (rows, out): b (out) to every row, or b (ho,
// wo, out) to each of the n images' (ho·wo) rows.
func addBias(y, b *graph.Node, n int) *graph.Node {
	bs := graph.StopGradient(b)
	if b.Rank() > 1 {
		rows := y.Shape().Dimensions[0]
		return graph.Reshape(graph.Add(graph.Reshape(y, n, rows/n*y.Shape().Dimensions[1]), graph.Reshape(bs, 1, -1)), y.Shape().Dimensions...)
	}
	return graph.Add(y, graph.Reshape(bs, 1, y.Shape().Dimensions[1]))
}

// biasGrad is the gradient of the bias b given the convolution's output
// gradient dy (n, ho, wo, out): 1ᵀ·dy summed over the images and positions
// for b (out), over the images for b (ho, wo, out).
func biasGrad(dy, b *graph.Node) *graph.Node {
	rows := dy.Shape().Size() / dy.Shape().Dimensions[3]
	if b.Rank() > 1 {
		rows = dy.Shape().Dimensions[0]
	}
	ones := graph.Ones(dy.Graph(), shapes.Make(dy.DType(), 1, rows))
	return graph.Reshape(graph.Dot(ones, graph.Reshape(dy, rows, -1)), b.Shape().Dimensions...)
}

// tie prepares a custom gradient for a value computed from stopped copies
// of inputs: reverse-mode autodiff gives inputs[i] the gradient grad(dy, i),
// where dy is the gradient with respect to the value; grad is called only
// for the inputs autodiff reaches. GoMLX's custom gradients exist only for
// identities, so the tie is: each input goes through an identity with a
// custom gradient, one element of which feeds the returned scalar zero,
// link; the caller folds link into a small node the value depends on (a
// weight, a scalar), and wraps the value with finish, a custom identity that
// records dy for the input identities (reached later in the backward pass).
// The backward nodes of the tie itself are unused, and backends skip them.
// This avoids GoMLX's generic DotGeneral gradient, which materialises a
// (rows, inner, cols) product on the pure-Go backend, and the many
// element-wise passes of autodiff through normalisations.
func tie(inputs []*graph.Node, dtype dtypes.DType, grad func(dy *graph.Node, input int) *graph.Node) (link *graph.Node, finish func(value *graph.Node) *graph.Node) {
	var dy *graph.Node
	var sum *graph.Node
	for i, in := range inputs {
		tied := graph.IdentityWithCustomGradient(in, func(_, _ *graph.Node) *graph.Node {
			if dy == nil {
				panic("nn: internal error: custom gradient reached before its output's gradient")
			}
			return grad(dy, i)
		})
		first := graph.Reshape(graph.Slice(graph.Reshape(tied, -1), graph.AxisRange(0, 1)))
		if first.DType() != dtype {
			first = graph.ConvertDType(first, dtype)
		}
		if sum == nil {
			sum = first
		} else {
			sum = graph.Add(sum, first)
		}
	}
	g := inputs[0].Graph()
	// Where (not a multiplication by 0) keeps the link 0 if an input holds
	// Inf or NaN.
	link = graph.Where(graph.Const(g, false), sum, graph.ScalarZero(g, dtype))
	finish = func(value *graph.Node) *graph.Node {
		return graph.IdentityWithCustomGradient(value, func(_, v *graph.Node) *graph.Node {
			dy = v
			return v
		})
	}
	return link, finish
}

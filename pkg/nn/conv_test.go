package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gosde/gosde/pkg/backend"
)

// naiveConv is a direct float64 reference: x (b,h,w,c), k (kh,kw,c,o), NHWC.
func naiveConv(x []float64, xd [4]int, k []float64, kd [4]int, stride, pad int) ([]float64, [4]int) {
	b, h, w, c := xd[0], xd[1], xd[2], xd[3]
	kh, kw, o := kd[0], kd[1], kd[3]
	ho, wo := (h+2*pad-kh)/stride+1, (w+2*pad-kw)/stride+1
	y := make([]float64, b*ho*wo*o)
	for n := 0; n < b; n++ {
		for i := 0; i < ho; i++ {
			for j := 0; j < wo; j++ {
				for q := 0; q < o; q++ {
					var s float64
					for di := 0; di < kh; di++ {
						for dj := 0; dj < kw; dj++ {
							r, cc := i*stride+di-pad, j*stride+dj-pad
							if r < 0 || r >= h || cc < 0 || cc >= w {
								continue
							}
							for p := 0; p < c; p++ {
								s += x[((n*h+r)*w+cc)*c+p] * k[((di*kw+dj)*c+p)*o+q]
							}
						}
					}
					y[((n*ho+i)*wo+j)*o+q] = s
				}
			}
		}
	}
	return y, [4]int{b, ho, wo, o}
}

func randSlice(r *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = r.NormFloat64()
	}
	return v
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// TestConv2DAgainstReference checks Conv2DWith's value against a direct
// float64 convolution and against graph.Convolve, and its gradients of
// L = Σ y·R against central finite differences of the direct convolution.
func TestConv2DAgainstReference(t *testing.T) {
	b := backend.MustNew()
	cases := []struct {
		xd, kd      [4]int
		stride, pad int
	}{
		{[4]int{2, 5, 6, 3}, [4]int{3, 3, 3, 4}, 1, 1},
		{[4]int{2, 6, 6, 3}, [4]int{4, 4, 3, 2}, 2, 1},
		{[4]int{2, 7, 5, 2}, [4]int{4, 2, 2, 3}, 2, 1},
		{[4]int{1, 6, 6, 2}, [4]int{3, 3, 2, 2}, 1, 0},
		{[4]int{1, 4, 4, 2}, [4]int{1, 1, 2, 3}, 1, 0},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for ci, c := range cases {
		xs := randSlice(r, c.xd[0]*c.xd[1]*c.xd[2]*c.xd[3])
		ks := randSlice(r, c.kd[0]*c.kd[1]*c.kd[2]*c.kd[3])
		want, yd := naiveConv(xs, c.xd, ks, c.kd, c.stride, c.pad)
		rs := randSlice(r, len(want))
		xT := tensors.FromFlatDataAndDimensions(xs, c.xd[:]...)
		kT := tensors.FromFlatDataAndDimensions(ks, c.kd[:]...)
		rT := tensors.FromFlatDataAndDimensions(rs, yd[:]...)
		out := graph.MustExecOnceN(b, func(x, k, rr *graph.Node) []*graph.Node {
			y := Conv2DWith(x, k, c.stride, c.pad)
			ref := graph.Convolve(x, k).Strides(c.stride).PaddingPerDim([][2]int{{c.pad, c.pad}, {c.pad, c.pad}}).Done()
			loss := graph.ReduceAllSum(graph.Mul(y, rr))
			g := graph.Gradient(loss, x, k)
			return []*graph.Node{y, ref, g[0], g[1]}
		}, xT, kT, rT)
		y := tensors.MustCopyFlatData[float64](out[0])
		ref := tensors.MustCopyFlatData[float64](out[1])
		for i := range want {
			if math.Abs(y[i]-want[i]) > 1e-10 || math.Abs(ref[i]-want[i]) > 1e-10 {
				t.Fatalf("case %d: y[%d] = %g, graph.Convolve %g, direct %g", ci, i, y[i], ref[i], want[i])
			}
		}
		loss := func(x, k []float64) float64 {
			yy, _ := naiveConv(x, c.xd, k, c.kd, c.stride, c.pad)
			return dot(yy, rs)
		}
		const h = 1e-5
		check := func(name string, v []float64, grad []float64, f func([]float64) float64) {
			for i := range v {
				old := v[i]
				v[i] = old + h
				up := f(v)
				v[i] = old - h
				down := f(v)
				v[i] = old
				fd := (up - down) / (2 * h)
				if math.Abs(fd-grad[i]) > 1e-6*(1+math.Abs(fd)) {
					t.Fatalf("case %d: d loss/d %s[%d] = %g, finite difference %g", ci, name, i, grad[i], fd)
				}
			}
		}
		check("x", xs, tensors.MustCopyFlatData[float64](out[2]), func(v []float64) float64 { return loss(v, ks) })
		check("kernel", ks, tensors.MustCopyFlatData[float64](out[3]), func(v []float64) float64 { return loss(xs, v) })

		// float32 (on the pure-Go backend: gosde's convolution kernel) against
		// the float64 results just checked.
		out32 := graph.MustExecOnceN(b, func(x, k, rr *graph.Node) []*graph.Node {
			x, k, rr = graph.ConvertDType(x, dtypes.Float32), graph.ConvertDType(k, dtypes.Float32), graph.ConvertDType(rr, dtypes.Float32)
			y := Conv2DWith(x, k, c.stride, c.pad)
			g := graph.Gradient(graph.ReduceAllSum(graph.Mul(y, rr)), x, k)
			return []*graph.Node{y, g[0], g[1]}
		}, xT, kT, rT)
		for j, name := range []string{"y", "dx", "dkernel"} {
			got := tensors.MustCopyFlatData[float32](out32[j])
			ref := tensors.MustCopyFlatData[float64](out[[]int{0, 2, 3}[j]])
			for i := range ref {
				if math.Abs(float64(got[i])-ref[i]) > 1e-4*(1+math.Abs(ref[i])) {
					t.Fatalf("case %d float32: %s[%d] = %g, float64 %g", ci, name, i, got[i], ref[i])
				}
			}
		}
	}
}

// A 2×2 kernel of ones sums each 2×2 window of a 3×3 image.
func ExampleConv2DWith() {
	img := [][][][]float32{{{{1}, {2}, {3}}, {{4}, {5}, {6}}, {{7}, {8}, {9}}}} // (1, 3, 3, 1)
	ones := [][][][]float32{{{{1}}, {{1}}}, {{{1}}, {{1}}}}                     // (2, 2, 1, 1)
	y := graph.MustExecOnce(backend.MustNew(), func(x, k *graph.Node) *graph.Node {
		return graph.Reshape(Conv2DWith(x, k, 1, 0), 2, 2)
	}, img, ones)
	fmt.Println(y.Value())
	// Output: [[12 16] [24 28]]
}

// TestConv2DBias checks the layer's bias: y = Conv2DWith(x, weights) + bias,
// and dL/dbias[o] = Σ R[…, o] for L = Σ y·R.
func TestConv2DBias(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	xs, rs := randSlice(r, 2*4*4*3), randSlice(r, 2*2*2*5)
	ctx := context.New()
	e := context.MustNewExec(backend.MustNew(), ctx, func(ctx *context.Context, x, rr *graph.Node) []*graph.Node {
		y := Conv2D(ctx.In("conv"), x, 5, 4, 2, 1, true)
		w := ctx.In("conv").GetVariable("weights").ValueGraph(x.Graph())
		b := ctx.In("conv").GetVariable("biases").ValueGraph(x.Graph())
		ref := graph.Add(Conv2DWith(x, w, 2, 1), graph.Reshape(b, 1, 1, 1, 5))
		g := graph.Gradient(graph.ReduceAllSum(graph.Mul(y, rr)), b)
		return []*graph.Node{y, ref, g[0]}
	})
	out := e.MustExec(tensors.FromFlatDataAndDimensions(xs, 2, 4, 4, 3), tensors.FromFlatDataAndDimensions(rs, 2, 2, 2, 5))
	y, ref := tensors.MustCopyFlatData[float64](out[0]), tensors.MustCopyFlatData[float64](out[1])
	for i := range y {
		if math.Abs(y[i]-ref[i]) > 1e-12 {
			t.Fatalf("y[%d] = %g, conv + bias %g", i, y[i], ref[i])
		}
	}
	db := tensors.MustCopyFlatData[float64](out[2])
	for o := range db {
		var want float64
		for i := o; i < len(rs); i += 5 {
			want += rs[i]
		}
		if math.Abs(db[o]-want) > 1e-12 {
			t.Fatalf("dL/dbias[%d] = %g, want %g", o, db[o], want)
		}
	}
}

// TestConcatConv2D compares ConcatConv2D (time channel folded into a bias
// map) with Conv2DWith on x with a channel of t appended, plus the bias:
// values and the gradients with respect to x, t, weights and biases (the
// latter through Conv2DWith's gradient, checked against finite differences
// above).
func TestConcatConv2D(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for ci, c := range []struct{ kernel, stride, pad int }{{3, 1, 1}, {4, 2, 1}, {3, 1, 0}} {
		xs, rs := randSlice(r, 2*6*6*3), randSlice(r, 2*6*6*4)
		ctx := context.New()
		e := context.MustNewExec(backend.MustNew(), ctx, func(ctx *context.Context, x, tt, rr *graph.Node) []*graph.Node {
			y := ConcatConv2D(ctx.In("conv"), tt, x, 4, c.kernel, c.stride, c.pad, true)
			w := ctx.In("conv").GetVariable("weights").ValueGraph(x.Graph())
			b := ctx.In("conv").GetVariable("biases").ValueGraph(x.Graph())
			tc := graph.BroadcastToDims(graph.Reshape(tt), 2, 6, 6, 1)
			ref := graph.Add(Conv2DWith(graph.Concatenate([]*graph.Node{x, tc}, 3), w, c.stride, c.pad), graph.Reshape(b, 1, 1, 1, 4))
			rr = graph.Slice(rr, graph.AxisRange(), graph.AxisRange(0, y.Shape().Dim(1)), graph.AxisRange(0, y.Shape().Dim(2)), graph.AxisRange())
			g := graph.Gradient(graph.ReduceAllSum(graph.Mul(y, rr)), x, tt, w, b)
			gr := graph.Gradient(graph.ReduceAllSum(graph.Mul(ref, rr)), x, tt, w, b)
			return append(append([]*graph.Node{y, ref}, g...), gr...)
		})
		out := e.MustExec(tensors.FromFlatDataAndDimensions(xs, 2, 6, 6, 3), 0.7, tensors.FromFlatDataAndDimensions(rs, 2, 6, 6, 4))
		names := []string{"y", "dx", "dt", "dweights", "dbiases"}
		for k, name := range names {
			i, j := 2+k-1, 2+len(names)-1+k-1
			if k == 0 {
				i, j = 0, 1
			}
			got, want := tensors.MustCopyFlatData[float64](out[i]), tensors.MustCopyFlatData[float64](out[j])
			for q := range want {
				if math.Abs(got[q]-want[q]) > 1e-10*(1+math.Abs(want[q])) {
					t.Fatalf("case %d: %s[%d] = %g, with the channel concatenated %g", ci, name, q, got[q], want[q])
				}
			}
		}
	}
}

// BenchmarkConvBlock times one convolution of the ODE-Net block (64 images
// of 6×6×64, 3×3 kernel, padding 1) with its input and kernel gradients and
// the GroupNorm after it, float32. Compare the pure-Go backend's kernels
// with the per-tap graph and the indicator-product sums:
//
//	go test ./pkg/nn -run '^$' -bench ConvBlock
//	GOSDE_FAST_KERNELS=-conv,-reduce go test ./pkg/nn -run '^$' -bench ConvBlock
func BenchmarkConvBlock(b *testing.B) {
	be := backend.Shared()
	r := rand.New(rand.NewPCG(3, 4))
	x32 := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return v
	}
	x := tensors.FromFlatDataAndDimensions(x32(64*6*6*64), 64, 6, 6, 64)
	k := tensors.FromFlatDataAndDimensions(x32(3*3*64*64), 3, 3, 64, 64)
	exec := graph.MustNewExec(be, func(x, k *graph.Node) []*graph.Node {
		y := GroupNormWith(Conv2DWith(x, k, 1, 1), 32, nil, nil)
		loss := graph.ReduceAllSum(graph.Mul(y, y))
		return graph.Gradient(loss, x, k)
	})
	exec.MustExec(x, k) // compile
	b.ResetTimer()
	for range b.N {
		for _, t := range exec.MustExec(x, k) {
			t.MustFinalizeAll()
		}
	}
}

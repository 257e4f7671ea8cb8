package backend

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// embedded returns the wrapped pure-Go backend regardless of GOMLX_BACKEND.
func embedded(t testing.TB) backends.Backend {
	t.Helper()
	b, err := NewWithConfig(Embedded)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testBackend returns the backend New picks: the wrapped embedded one by
// default; with GOMLX_BACKEND=xla:... the same tests check XLA's own Pad and
// Reverse against the same hand-computed values.
func testBackend(t testing.TB) backends.Backend {
	t.Helper()
	b, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// run builds fn on b, runs it on float64 inputs of the given dims, and returns
// the flat float64 outputs.
func run(t testing.TB, b backends.Backend, fn func([]*Node) []*Node, dims [][]int, data ...[]float64) [][]float64 {
	t.Helper()
	exec, err := NewExec(b, fn)
	if err != nil {
		t.Fatal(err)
	}
	args := make([]any, len(data))
	for i, d := range data {
		args[i] = tensors.FromFlatDataAndDimensions(d, dims[i]...)
	}
	outs, err := exec.Exec(args...)
	if err != nil {
		t.Fatal(err)
	}
	res := make([][]float64, len(outs))
	for i, o := range outs {
		if res[i], err = tensors.CopyFlatData[float64](o); err != nil {
			t.Fatal(err)
		}
	}
	return res
}

func iotaF64(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = float64(i + 1)
	}
	return v
}

func TestWrapIdentityAndCapabilities(t *testing.T) {
	b := embedded(t)
	inner, err := simplego.New("")
	if err != nil {
		t.Fatal(err)
	}
	if b.Name() != inner.Name() || b.String() != inner.String() {
		t.Errorf("Name() = %q, String() = %q, want simplego's %q", b.Name(), b.String(), inner.Name())
	}
	ops := b.Capabilities().Operations
	if !ops[backends.OpTypePad] || !ops[backends.OpTypeReverse] || !ops[backends.OpTypeDotGeneral] {
		t.Errorf("capabilities miss Pad/Reverse/DotGeneral: %v %v %v",
			ops[backends.OpTypePad], ops[backends.OpTypeReverse], ops[backends.OpTypeDotGeneral])
	}
	if simplego.Capabilities.Operations[backends.OpTypePad] {
		t.Errorf("Wrap modified simplego's global capabilities")
	}
	if Wrap(b) != b {
		t.Errorf("Wrap(Wrap(x)) should return the same wrapper")
	}
	if Wrap(nil) != nil {
		t.Errorf("Wrap(nil) should be nil")
	}
}

func TestPadForward(t *testing.T) {
	b := testBackend(t)
	// x = [[1 2 3] [4 5 6]]
	x := iotaF64(6)
	cases := []struct {
		name string
		pads []backends.PadAxis
		dims []int
		want []float64
	}{
		{"edges", []backends.PadAxis{{Start: 1}, {Start: 1, End: 2}}, []int{3, 6},
			[]float64{-1, -1, -1, -1, -1, -1, -1, 1, 2, 3, -1, -1, -1, 4, 5, 6, -1, -1}},
		{"crop", []backends.PadAxis{{}, {Start: -1, End: -1}}, []int{2, 1}, []float64{2, 5}},
		{"crop-and-pad", []backends.PadAxis{{End: -1}, {Start: -2, End: 1}}, []int{1, 2}, []float64{3, -1}},
		{"interior", []backends.PadAxis{{}, {Interior: 2}}, []int{2, 7},
			[]float64{1, -1, -1, 2, -1, -1, 3, 4, -1, -1, 5, -1, -1, 6}},
		{"interior-both", []backends.PadAxis{{Interior: 1}, {Start: 1, Interior: 1, End: -1}}, []int{3, 5},
			[]float64{-1, 1, -1, 2, -1, -1, -1, -1, -1, -1, -1, 4, -1, 5, -1}},
		{"interior-crop-into", []backends.PadAxis{{}, {Start: -1, Interior: 1}}, []int{2, 4},
			[]float64{-1, 2, -1, 3, -1, 5, -1, 6}},
		{"crop-past-x-into-padding", []backends.PadAxis{{}, {Start: -4, End: 2}}, []int{2, 1}, []float64{-1, -1}},
		{"crop-all", []backends.PadAxis{{Start: -3, End: 1}}, []int{0, 3}, nil},
		{"none", nil, []int{2, 3}, x},
	}
	for _, c := range cases {
		got := run(t, b, func(xs []*Node) []*Node {
			return []*Node{Pad(xs[0], Const(xs[0].Graph(), -1.0), c.pads...)}
		}, [][]int{{2, 3}}, x)[0]
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: Pad = %v, want %v", c.name, got, c.want)
		}
		// Output shape.
		exec := MustNewExec(b, func(x *Node) *Node { return Pad(x, Const(x.Graph(), -1.0), c.pads...) })
		out := exec.MustExec1(tensors.FromFlatDataAndDimensions(x, 2, 3))
		if !slices.Equal(out.Shape().Dimensions, c.dims) {
			t.Errorf("%s: shape %v, want %v", c.name, out.Shape().Dimensions, c.dims)
		}
	}
}

func TestPadErrors(t *testing.T) {
	b := embedded(t)
	bad := [][]backends.PadAxis{
		{{Interior: -1}},
		{{Start: -2, End: -1}},     // size 2 - 3 < 0
		{{}, {}, {}},               // too many axes
		{{}, {Start: -3, End: -1}}, // size 3 - 4 < 0
	}
	for _, pads := range bad {
		_, err := NewExec(b, func(x *Node) *Node { return Pad(x, Const(x.Graph(), 0.0), pads...) })
		if err == nil {
			exec := MustNewExec(b, func(x *Node) *Node { return Pad(x, Const(x.Graph(), 0.0), pads...) })
			_, err = exec.Exec(tensors.FromFlatDataAndDimensions(iotaF64(6), 2, 3))
		}
		if err == nil {
			t.Errorf("Pad(%+v) on [2,3]: expected an error", pads)
		} else {
			t.Logf("Pad(%+v): %v", pads, err)
		}
	}
}

func TestReverseForward(t *testing.T) {
	b := testBackend(t)
	// x = [[[1 2 3 4] [5 6 7 8] [9 10 11 12]] [[13 ...] ...]] shape [2,3,4]
	x := iotaF64(24)
	at := func(i, j, k int) float64 { return x[i*12+j*4+k] }
	for _, axes := range [][]int{{0}, {1}, {2}, {0, 2}, {2, 1}, {0, 1, 2}, {}} {
		got := run(t, b, func(xs []*Node) []*Node { return []*Node{Reverse(xs[0], axes...)} },
			[][]int{{2, 3, 4}}, x)[0]
		want := make([]float64, 0, 24)
		for i := range 2 {
			for j := range 3 {
				for k := range 4 {
					ii, jj, kk := i, j, k
					if slices.Contains(axes, 0) {
						ii = 1 - i
					}
					if slices.Contains(axes, 1) {
						jj = 2 - j
					}
					if slices.Contains(axes, 2) {
						kk = 3 - k
					}
					want = append(want, at(ii, jj, kk))
				}
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("Reverse(axes=%v) = %v, want %v", axes, got, want)
		}
	}
	// Integer dtype and size-1 axes.
	exec := MustNewExec(b, func(x *Node) *Node { return Reverse(x, 0, 1) })
	out := exec.MustExec1(tensors.FromValue([][]int32{{1, 2, 3}}))
	if got := out.Value().([][]int32); !slices.Equal(got[0], []int32{3, 2, 1}) {
		t.Errorf("Reverse int32 = %v, want [[3 2 1]]", got)
	}
}

// checkGrad compares the gradient of loss = Σ w⊙fn(xs) (w fixed random
// weights) with respect to every input against central finite differences.
func checkGrad(t *testing.T, name string, fn func(xs []*Node) *Node, dims ...[]int) {
	t.Helper()
	t.Run(name, func(t *testing.T) { checkGradRun(t, name, fn, dims...) })
}

func checkGradRun(t *testing.T, name string, fn func(xs []*Node) *Node, dims ...[]int) {
	b := testBackend(t)
	rng := rand.New(rand.NewPCG(1, uint64(len(name))))
	data := make([][]float64, len(dims))
	for i, d := range dims {
		n := 1
		for _, v := range d {
			n *= v
		}
		data[i] = make([]float64, n)
		for j := range data[i] {
			data[i][j] = rng.NormFloat64()
		}
	}
	// The output shape is needed for the weights: build once to learn it.
	var weights []float64
	lossOf := func(xs []*Node) *Node {
		y := fn(xs)
		if weights == nil {
			r := rand.New(rand.NewPCG(2, 3))
			weights = make([]float64, y.Shape().Size())
			for i := range weights {
				weights[i] = r.NormFloat64()
			}
		}
		w := Const(y.Graph(), tensors.FromFlatDataAndDimensions(weights, y.Shape().Dimensions...))
		return ReduceAllSum(Mul(y, w))
	}
	grads := run(t, b, func(xs []*Node) []*Node { return Gradient(lossOf(xs), xs...) }, dims, data...)
	lossExec, err := NewExec(b, lossOf)
	if err != nil {
		t.Fatal(err)
	}
	loss := func() float64 {
		args := make([]any, len(data))
		for i, d := range data {
			args[i] = tensors.FromFlatDataAndDimensions(d, dims[i]...)
		}
		return lossExec.MustExec1(args...).Value().(float64)
	}
	const h = 1e-5
	for i := range data {
		num := make([]float64, len(data[i]))
		for j := range data[i] {
			orig := data[i][j]
			data[i][j] = orig + h
			fp := loss()
			data[i][j] = orig - h
			fm := loss()
			data[i][j] = orig
			num[j] = (fp - fm) / (2 * h)
		}
		var diff, norm float64
		for j := range num {
			diff += (num[j] - grads[i][j]) * (num[j] - grads[i][j])
			norm += num[j] * num[j]
		}
		rel := math.Sqrt(diff / max(norm, 1e-300))
		if !(rel < 1e-6) {
			t.Errorf("%s: input %d: gradient rel err %.3g\n autodiff %v\n numeric  %v", name, i, rel, grads[i], num)
		} else {
			t.Logf("%s: input %d: gradient rel err %.2g", name, i, rel)
		}
	}
}

func TestGradients(t *testing.T) {
	checkGrad(t, "Slice", func(xs []*Node) *Node {
		return Slice(xs[0], AxisRange(1, 3), AxisRange(0, 5).Stride(2))
	}, []int{4, 5})
	checkGrad(t, "Split", func(xs []*Node) *Node {
		p := Split(xs[0], 1, 3)
		return Add(Mul(p[0], p[2]), Square(p[1]))
	}, []int{3, 6})
	for _, stride := range []int{1, 2} {
		checkGrad(t, "Conv2D/stride"+string(rune('0'+stride))+"/same", func(xs []*Node) *Node {
			return Convolve(xs[0], xs[1]).Strides(stride).PadSame().Done()
		}, []int{2, 7, 6, 3}, []int{3, 3, 3, 4})
		checkGrad(t, "Conv2D/stride"+string(rune('0'+stride))+"/valid", func(xs []*Node) *Node {
			return Convolve(xs[0], xs[1]).Strides(stride).NoPadding().Done()
		}, []int{2, 7, 6, 3}, []int{3, 3, 3, 4})
	}
	checkGrad(t, "Conv2D/stride2/explicit-padding", func(xs []*Node) *Node {
		return Convolve(xs[0], xs[1]).StridePerAxis(2, 1).PaddingPerDim([][2]int{{1, 0}, {2, 1}}).Done()
	}, []int{1, 6, 5, 2}, []int{3, 3, 2, 3})
	checkGrad(t, "Conv2D/stride3/same/even", func(xs []*Node) *Node {
		return Convolve(xs[0], xs[1]).Strides(3).PadSame().Done()
	}, []int{1, 8, 8, 2}, []int{3, 3, 2, 2})
	checkGrad(t, "Conv2D/no-explicit-strides/same", func(xs []*Node) *Node {
		return Convolve(xs[0], xs[1]).PadSame().Done()
	}, []int{2, 5, 4, 2}, []int{3, 3, 2, 3})
	checkGrad(t, "Conv1D/stride2", func(xs []*Node) *Node {
		return Convolve(xs[0], xs[1]).Strides(2).PadSame().Done()
	}, []int{2, 9, 2}, []int{3, 2, 3})
	checkGrad(t, "Conv1D/dilation2", func(xs []*Node) *Node {
		return Convolve(xs[0], xs[1]).Strides(1).Dilations(2).PadSame().Done()
	}, []int{2, 9, 2}, []int{3, 2, 3})
	checkGrad(t, "MeanPool", func(xs []*Node) *Node {
		return MeanPool(xs[0]).Window(2).Strides(2).Done()
	}, []int{2, 6, 4, 3})
	checkGrad(t, "MeanPool/same", func(xs []*Node) *Node {
		return MeanPool(xs[0]).Window(3).Strides(1).PadSame().Done()
	}, []int{1, 5, 4, 2})
	checkGrad(t, "MLP", func(xs []*Node) *Node {
		h := Tanh(Add(Dot(xs[0], xs[1]), xs[2]))
		return Dot(h, xs[3])
	}, []int{5, 3}, []int{3, 8}, []int{1, 8}, []int{8, 2})
}

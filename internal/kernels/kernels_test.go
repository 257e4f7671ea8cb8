package kernels

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// testPoints returns a dense grid on [−lim, lim] plus log-spaced magnitudes
// from 1e-30 to lim, both signs, and ±0.
func testPoints(lim float64) []float64 {
	var xs []float64
	for x := -lim; x <= lim; x += lim / 200000 {
		xs = append(xs, x)
	}
	for e := -30.0; math.Pow(10, e) <= lim; e += 0.001 {
		xs = append(xs, math.Pow(10, e), -math.Pow(10, e))
	}
	return append(xs, 0, math.Copysign(0, -1), tanhSeriesMax, -tanhSeriesMax, tanhOne, math.Nextafter(tanhSeriesMax, 0))
}

func relErr(got, want float64) float64 {
	if got == want {
		return 0
	}
	return math.Abs(got-want) / math.Abs(want)
}

func TestExpApprox(t *testing.T) {
	worst := 0.0
	for _, x := range testPoints(700) {
		worst = max(worst, relErr(expApprox(x), math.Exp(x)))
	}
	if worst > 1e-9 {
		t.Fatalf("expApprox: worst relative error %.3g > 1e-9", worst)
	}
	if !math.IsNaN(expApprox(math.NaN())) || expApprox(math.Inf(-1)) > 1e-300 || expApprox(math.Inf(1)) < 1e300 {
		t.Fatalf("expApprox specials: NaN→%g, −Inf→%g, +Inf→%g", expApprox(math.NaN()), expApprox(math.Inf(-1)), expApprox(math.Inf(1)))
	}
}

func TestTanhApprox(t *testing.T) {
	worst, at := 0.0, 0.0
	for _, x := range testPoints(30) {
		want := math.Tanh(x)
		got := tanhApprox(x)
		if math.Abs(x) > tanhOne {
			// Saturated to ±1: within float32's rounding of the exact value.
			if got != math.Copysign(1, x) || math.Abs(want-got) > 3e-8 {
				t.Fatalf("tanhApprox(%g) = %g, want ±1 (math.Tanh %g)", x, got, want)
			}
			continue
		}
		if e := relErr(got, want); e > worst {
			worst, at = e, x
		}
	}
	if worst > 1e-8 {
		t.Fatalf("tanhApprox: worst relative error %.3g at x=%g (> 1e-8)", worst, at)
	}
	if !math.IsNaN(tanhApprox(math.NaN())) || tanhApprox(math.Inf(1)) != 1 || tanhApprox(math.Inf(-1)) != -1 {
		t.Fatal("tanhApprox specials wrong")
	}
	if z := tanhApprox(math.Copysign(0, -1)); z != 0 || !math.Signbit(z) {
		t.Fatalf("tanhApprox(−0) = %g", z)
	}
}

func TestLogisticApprox(t *testing.T) {
	worst := 0.0
	for _, x := range testPoints(700) {
		// Reference in the stable form.
		var want float64
		if x >= 0 {
			want = 1 / (1 + math.Exp(-x))
		} else {
			e := math.Exp(x)
			want = e / (1 + e)
		}
		worst = max(worst, relErr(logisticApprox(x), want))
	}
	if worst > 1e-9 {
		t.Fatalf("logisticApprox: worst relative error %.3g > 1e-9", worst)
	}
	if logisticApprox(math.Inf(1)) != 1 || logisticApprox(math.Inf(-1)) > 1e-300 || !math.IsNaN(logisticApprox(math.NaN())) {
		t.Fatal("logisticApprox specials wrong")
	}
}

// TestFastKernelsInGraphs runs Tanh, Logistic and Exp through the embedded
// backend in float32 (the fast kernels) and float64 (simplego's own).
func TestFastKernelsInGraphs(t *testing.T) {
	b := mustSimplego(t)
	if s := Current(); !s.Kernels || !s.Elementwise {
		t.Fatalf("fast kernels not installed (layout self-check failed or GOSDE_FAST_KERNELS=0 or -elementwise): %+v", s)
	}
	xs := testPoints(12)
	x32 := make([]float32, len(xs))
	for i, x := range xs {
		x32[i] = float32(x)
	}
	exec := graph.MustNewExec(b, func(x *graph.Node) []*graph.Node {
		// Tanh of an intermediate (an owned buffer, computed in place) and of the input.
		return []*graph.Node{graph.Tanh(graph.MulScalar(x, 1)), graph.Tanh(x), graph.Logistic(x), graph.Exp(x)}
	})
	out := exec.MustExec(tensors.FromFlatDataAndDimensions(x32, len(x32)))
	refs := []func(float64) float64{math.Tanh, math.Tanh, func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }, math.Exp}
	for k, o := range out {
		got := tensors.MustCopyFlatData[float32](o)
		for i, x := range x32 {
			want := float32(refs[k](float64(x)))
			ulp := math.Abs(float64(math.Nextafter32(want, float32(math.Inf(1)))) - float64(want))
			if d := math.Abs(float64(got[i] - want)); d > ulp {
				t.Fatalf("output %d at x=%g: %g, want %g (more than 1 ulp)", k, x, got[i], want)
			}
		}
	}
	// Float64 goes to simplego's kernels: bit-identical to math.Tanh.
	out64 := graph.MustExecOnce(b, func(x *graph.Node) *graph.Node { return graph.Tanh(x) }, xs)
	got64 := tensors.MustCopyFlatData[float64](out64)
	for i, x := range xs {
		if got64[i] != math.Tanh(x) {
			t.Fatalf("float64 Tanh(%g) = %.17g, want math.Tanh %.17g", x, got64[i], math.Tanh(x))
		}
	}
}

// BenchmarkTanhKernel compares the float32 kernels with the math package
// loop simplego runs without them, per element.
func BenchmarkTanhKernel(b *testing.B) {
	src := make([]float32, 4096)
	for i := range src {
		// Roughly standard normal values (a sum of uniforms), as in an MLP's hidden layer.
		u := 0.0
		for j := range 12 {
			u += float64((uint32(i*12+j)*2654435761)>>8) / (1 << 24)
		}
		src[i] = float32(u - 6)
	}
	dst := make([]float32, len(src))
	mathLoop := func(f func(float64) float64) func(dst, src []float32) {
		return func(dst, src []float32) {
			for i, x := range src {
				dst[i] = float32(f(float64(x)))
			}
		}
	}
	for _, k := range []struct {
		name   string
		kernel func(dst, src []float32)
	}{
		{"fast", tanh32Slice},
		{"math.Tanh", mathLoop(math.Tanh)},
		{"logistic-fast", logistic32Slice},
		{"logistic-math", mathLoop(func(x float64) float64 { return 1 / (1 + math.Exp(-x)) })},
	} {
		b.Run(k.name, func(b *testing.B) {
			for range b.N {
				k.kernel(dst, src)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(src)), "ns/elem")
		})
	}
}

// TestRowBroadcastOps checks Add, Mul and Sub of a batch and a row broadcast
// along the leading axes (both operand orders; intermediate operands are
// owned and computed in place) against plain loops, in float32.
func TestRowBroadcastOps(t *testing.T) {
	b := mustSimplego(t)
	for _, cols := range []int{3, 16} { // 16: the AVX2 row kernel
		const rows = 5
		x := make([]float32, rows*cols)
		for i := range x {
			x[i] = float32(i)*0.25 - 1
		}
		row := make([]float32, cols)
		for j := range row {
			row[j] = float32(j%3)*2.5 - 3
		}
		outs := graph.MustExecOnceN(b, func(x, r *graph.Node) []*graph.Node {
			r2 := graph.ExpandAxes(r, 0) // (1, cols)
			xo := graph.MulScalar(x, 1)  // an owned intermediate
			return []*graph.Node{graph.Add(x, r2), graph.Add(r2, xo), graph.Mul(x, r2), graph.Sub(x, r2), graph.Sub(r2, xo),
				graph.Add(graph.Reshape(x, 1, rows, cols), graph.Reshape(r, 1, 1, cols))}
		}, tensors.FromFlatDataAndDimensions(x, rows, cols), row)
		want := []func(a, c float32) float32{
			func(a, c float32) float32 { return a + c }, func(a, c float32) float32 { return c + a },
			func(a, c float32) float32 { return a * c }, func(a, c float32) float32 { return a - c },
			func(a, c float32) float32 { return c - a }, func(a, c float32) float32 { return a + c },
		}
		for k, o := range outs {
			got := tensors.MustCopyFlatData[float32](o)
			if len(got) != rows*cols {
				t.Fatalf("cols %d, output %d has %d values (shape %s)", cols, k, len(got), o.Shape())
			}
			for i, v := range got {
				if w := want[k](x[i], row[i%cols]); v != w {
					t.Fatalf("cols %d, output %d element %d: %g, want %g", cols, k, i, v, w)
				}
			}
		}
	}
	for _, c := range []struct {
		small, full []int
		want        bool
	}{{[]int{1, 3}, []int{5, 3}, true}, {[]int{1, 1, 3}, []int{2, 5, 3}, true}, {[]int{1, 5, 3}, []int{2, 5, 3}, true},
		{[]int{5, 1}, []int{5, 3}, false}, {[]int{1, 1}, []int{5, 3}, false}, {[]int{1, 3, 1}, []int{2, 3, 4}, false}} {
		got := rowBroadcast(shapes.Make(dtypes.Float32, c.small...), shapes.Make(dtypes.Float32, c.full...))
		if got != c.want {
			t.Fatalf("rowBroadcast(%v, %v) = %v, want %v", c.small, c.full, got, c.want)
		}
	}
}

// mustSimplego installs the kernels (Install) and returns a new simplego
// backend.
func mustSimplego(t *testing.T) backends.Backend {
	t.Helper()
	Install()
	b, err := simplego.New("")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDotGeneral32 checks the float32 matrix-product kernel (x·W, x·Wᵀ,
// xᵀ·W, with sizes that are and are not multiples of 4) and a batched
// product (simplego's path) against float64 loops.
func TestDotGeneral32(t *testing.T) {
	b := mustSimplego(t)
	if !Current().Dot {
		t.Fatal("DotGeneral kernel not installed (layout self-check failed, or GOSDE_FAST_KERNELS=-dot)")
	}
	val := func(n, seed int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(math.Sin(float64(i*7+seed)) * 2)
		}
		return v
	}
	for _, sz := range [][3]int{{7, 5, 9}, {16, 8, 64}, {3, 64, 8}, {5, 7, 16}, {1, 1, 1}, {2, 1, 8}, {3, 9, 45}, {4, 200, 200}, {130, 200, 190}, {3, 5, 104}, {200, 512, 1}, {20, 7, 3}, {13, 1, 24}, {6, 3, 16}, {17, 29, 40}, {25, 28, 25}, {131, 64, 72}} {
		m, k, n := sz[0], sz[1], sz[2]
		a, w := val(m*k, 1), val(k*n, 2)
		aT, wT := make([]float32, m*k), make([]float32, k*n)
		for i := range m {
			for p := range k {
				aT[p*m+i] = a[i*k+p]
			}
		}
		for p := range k {
			for j := range n {
				wT[j*k+p] = w[p*n+j]
			}
		}
		outs := graph.MustExecOnceN(b, func(a, w, aT, wT *graph.Node) []*graph.Node {
			return []*graph.Node{
				graph.DotGeneral(a, []int{1}, nil, w, []int{0}, nil),
				graph.DotGeneral(a, []int{1}, nil, wT, []int{1}, nil),
				graph.DotGeneral(aT, []int{0}, nil, w, []int{0}, nil),
				graph.DotGeneral(aT, []int{0}, nil, wT, []int{1}, nil), // simplego's path
				graph.Reshape(graph.DotGeneral(graph.Reshape(a, 1, m, k), []int{2}, []int{0}, graph.Reshape(w, 1, k, n), []int{1}, []int{0}), m, n),
			}
		}, tensors.FromFlatDataAndDimensions(a, m, k), tensors.FromFlatDataAndDimensions(w, k, n),
			tensors.FromFlatDataAndDimensions(aT, k, m), tensors.FromFlatDataAndDimensions(wT, n, k))
		for c, o := range outs {
			got := tensors.MustCopyFlatData[float32](o)
			if len(got) != m*n {
				t.Fatalf("%v case %d: shape %s", sz, c, o.Shape())
			}
			for i := range m {
				for j := range n {
					var want, scale float64
					for p := range k {
						want += float64(a[i*k+p]) * float64(w[p*n+j])
						scale += math.Abs(float64(a[i*k+p]) * float64(w[p*n+j]))
					}
					if d := math.Abs(float64(got[i*n+j]) - want); d > 1e-6*scale+1e-30 {
						t.Fatalf("%v case %d [%d,%d]: %g, want %g", sz, c, i, j, got[i*n+j], want)
					}
				}
			}
		}
	}
}

// TestDotGeneral32Used checks that the kernel, not simplego's fallback,
// computes a float32 x·W (the data of DotGeneral nodes is recognised).
func TestDotGeneral32Used(t *testing.T) {
	b := mustSimplego(t)
	bld := b.Builder("used")
	x, _ := bld.Parameter("x", shapes.Make(dtypes.Float32, 3, 4), nil)
	w, _ := bld.Parameter("w", shapes.Make(dtypes.Float32, 4, 5), nil)
	op, err := bld.DotGeneral(x, []int{1}, nil, w, []int{0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := (*sgNode)(reflect.ValueOf(op).UnsafePointer()).inputs[0]
	d := dotData(n)
	if d == nil || d.contracting != 4 || d.lhsCrossSize != 3 || d.rhsCrossSize != 5 {
		t.Fatalf("dotData of a DotGeneral node = %+v", d)
	}
	if dotData(n.inputs[0]) != nil {
		t.Fatal("dotData of a Parameter node is not nil")
	}
}

// TestExpLogisticSlices checks the float32 slice kernels (the AVX2 path on
// CPUs that have it, the scalar path for the tail) against math.Exp within
// one float32 ulp, over the whole float32 range of exp, with specials.
func TestExpLogisticSlices(t *testing.T) {
	var src []float32
	for x := -110.0; x <= 95; x += 0.0137 {
		src = append(src, float32(x))
	}
	inf := float32(math.Inf(1))
	src = append(src, 0, -0.0, inf, -inf, float32(math.NaN()), 1e-30, -1e-30, 88.7, 88.8, -103.9)
	for _, tail := range []int{0, 1, 2, 3} {
		s := src[:len(src)-tail]
		expOut, logOut := make([]float32, len(s)), make([]float32, len(s))
		exp32Slice(expOut, s)
		logistic32Slice(logOut, s)
		for i, x := range s {
			we := float32(math.Exp(float64(x)))
			wl := float32(1 / (1 + math.Exp(-float64(x))))
			for _, c := range []struct {
				name      string
				got, want float32
			}{{"exp", expOut[i], we}, {"logistic", logOut[i], wl}} {
				if math.IsNaN(float64(c.want)) {
					if !math.IsNaN(float64(c.got)) {
						t.Fatalf("%s(%g) = %g, want NaN", c.name, x, c.got)
					}
					continue
				}
				ulp := math.Abs(float64(math.Nextafter32(c.want, inf)) - float64(c.want))
				if c.want == inf {
					ulp = 0
				}
				if d := math.Abs(float64(c.got) - float64(c.want)); d > ulp && !(c.got == c.want) {
					t.Fatalf("%s(%g) = %g, want %g (tail %d)", c.name, x, c.got, c.want, tail)
				}
			}
		}
	}
}

// TestBinaryOpsSameShapeAndScalar checks Add, Mul, Sub of same-shape
// float32 tensors and with a scalar on either side (the AVX2 path with a
// scalar tail: 13 elements) against plain arithmetic.
func TestBinaryOpsSameShapeAndScalar(t *testing.T) {
	b := mustSimplego(t)
	x := make([]float32, 13)
	y := make([]float32, 13)
	for i := range x {
		x[i], y[i] = float32(i)*0.5-3, float32(i*i)*0.1+1
	}
	outs := graph.MustExecOnceN(b, func(x, y *graph.Node) []*graph.Node {
		c := graph.Scalar(x.Graph(), x.DType(), 2.5)
		xo := graph.MulScalar(x, 1) // owned, computed in place
		return []*graph.Node{graph.Add(x, y), graph.Mul(x, y), graph.Sub(x, y), graph.Sub(xo, y),
			graph.Add(x, c), graph.Mul(c, x), graph.Sub(x, c), graph.Sub(c, xo)}
	}, x, y)
	want := []func(a, b float32) float32{
		func(a, b float32) float32 { return a + b }, func(a, b float32) float32 { return a * b },
		func(a, b float32) float32 { return a - b }, func(a, b float32) float32 { return a - b },
		func(a, _ float32) float32 { return a + 2.5 }, func(a, _ float32) float32 { return 2.5 * a },
		func(a, _ float32) float32 { return a - 2.5 }, func(a, _ float32) float32 { return 2.5 - a },
	}
	for k, o := range outs {
		got := tensors.MustCopyFlatData[float32](o)
		for i := range x {
			if w := want[k](x[i], y[i]); got[i] != w {
				t.Fatalf("output %d element %d: %g, want %g", k, i, got[i], w)
			}
		}
	}
}

// BenchmarkMatmulKernel: o (512×200) = a (512×200) · b (200×200) in float32
// on one goroutine, the latent-SDE benchmark's hidden-layer product.
func BenchmarkMatmulKernel(b *testing.B) {
	const m, k, n = 512, 200, 200
	a, w, o := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	for i := range a {
		a[i] = float32(i%13) / 13
	}
	for i := range w {
		w[i] = float32(i%7) / 7
	}
	for range b.N {
		matmulRows(o, a, w, m, k, n, k, 1)
	}
	b.ReportMetric(2*m*k*n*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// TestWhereAndReduceSum32 checks the float32 Where kernel (full and scalar
// branches) and ReduceSum over leading, trailing, middle and all axes
// against Go loops; sizes below 8 and non-contiguous axes take simplego's
// path.
func TestWhereAndReduceSum32(t *testing.T) {
	b := mustSimplego(t)
	const r, c = 7, 13
	x := make([]float32, r*c)
	y := make([]float32, r*c)
	for i := range x {
		x[i], y[i] = float32((i*37)%23)-11.5, float32(i)*0.5
	}
	outs := graph.MustExecOnceN(b, func(x, y *graph.Node) []*graph.Node {
		pos := graph.GreaterThan(x, graph.ZerosLike(x))
		x3 := graph.Reshape(x, r, 1, c)
		return []*graph.Node{
			graph.Where(pos, x, y), graph.Where(pos, graph.ScalarOne(x.Graph(), x.DType()), y),
			graph.ReduceSum(x, 0), graph.ReduceSum(x, 1), graph.ReduceAllSum(x),
			graph.ReduceSum(x3, 0, 1), graph.ReduceSum(x3, 1, 2), graph.ReduceSum(graph.Reshape(x, r, c, 1), 1),
			graph.Reshape(graph.ReduceSum(graph.Reshape(x, 1, r, c), 1), c),                          // middle axis of one block
			graph.ReduceSum(graph.Reshape(graph.Concatenate([]*graph.Node{x, y}, 0), 2, r, c), 1),    // middle axis, two blocks
			graph.ReduceSum(graph.Reshape(graph.Concatenate([]*graph.Node{x, y}, 0), 2, r, c), 0, 2), // not contiguous
		}
	}, tensors.FromFlatDataAndDimensions(x, r, c), tensors.FromFlatDataAndDimensions(y, r, c))
	sel := func(one bool) []float64 {
		out := make([]float64, r*c)
		for i := range out {
			switch {
			case x[i] > 0 && one:
				out[i] = 1
			case x[i] > 0:
				out[i] = float64(x[i])
			default:
				out[i] = float64(y[i])
			}
		}
		return out
	}
	colSums, rowSums, total := make([]float64, c), make([]float64, r), 0.0
	yCols, xyRows := make([]float64, c), make([]float64, r)
	for i, v := range x {
		colSums[i%c] += float64(v)
		rowSums[i/c] += float64(v)
		total += float64(v)
		yCols[i%c] += float64(y[i])
		xyRows[i/c] += float64(v) + float64(y[i])
	}
	want := [][]float64{sel(false), sel(true), colSums, rowSums, {total}, colSums, rowSums, rowSums,
		colSums, append(slices.Clone(colSums), yCols...), xyRows}
	for k, o := range outs {
		got := tensors.MustCopyFlatData[float32](o)
		if len(got) != len(want[k]) {
			t.Fatalf("output %d: %d values, want %d", k, len(got), len(want[k]))
		}
		for i, v := range got {
			if math.Abs(float64(v)-want[k][i]) > 1e-4 {
				t.Fatalf("output %d element %d: %g, want %g", k, i, v, want[k][i])
			}
		}
	}
	for _, tc := range []struct {
		dims, axes        []int
		outer, mid, inner int
		ok                bool
	}{{[]int{4, 5}, []int{0}, 1, 4, 5, true}, {[]int{4, 5}, []int{1}, 4, 5, 1, true}, {[]int{2, 3, 4}, []int{0, 1}, 1, 6, 4, true},
		{[]int{2, 3, 4}, []int{2, 1}, 2, 12, 1, true}, {[]int{2, 3, 4}, []int{0, 1, 2}, 1, 24, 1, true}, {[]int{2, 3, 4}, []int{1}, 2, 3, 4, true},
		{[]int{2, 3, 4, 5}, []int{1, 2}, 2, 12, 5, true}, {[]int{2, 3, 4}, []int{0, 2}, 0, 0, 0, false}} {
		outer, mid, inner, ok := reduceLayout(shapes.Make(dtypes.Float32, tc.dims...), tc.axes)
		if outer != tc.outer || mid != tc.mid || inner != tc.inner || ok != tc.ok {
			t.Errorf("reduceLayout(%v, %v) = %d, %d, %d, %v; want %d, %d, %d, %v", tc.dims, tc.axes, outer, mid, inner, ok, tc.outer, tc.mid, tc.inner, tc.ok)
		}
	}
}

// TestSliceRuns checks unit-stride slices (leading, middle, trailing and
// several axes, rank 1 to 3, float32 and float64) and a strided one
// (simplego's path) against index arithmetic.
func TestSliceRuns(t *testing.T) {
	if !simplegoSliceLayoutOK() {
		t.Fatal("the Slice layout check failed on the pinned GoMLX version")
	}
	b := mustSimplego(t)
	dims := []int{4, 5, 6}
	x := make([]float64, 4*5*6)
	for i := range x {
		x[i] = float64(i)
	}
	cases := []struct{ starts, limits, strides []int }{
		{[]int{1, 0, 0}, []int{3, 5, 6}, nil}, {[]int{0, 2, 0}, []int{4, 3, 6}, nil}, {[]int{0, 0, 5}, []int{4, 5, 6}, nil},
		{[]int{1, 1, 2}, []int{3, 4, 5}, nil}, {[]int{3, 4, 5}, []int{4, 5, 6}, nil}, {[]int{0, 0, 0}, []int{4, 5, 6}, nil},
		{[]int{0, 1, 0}, []int{4, 5, 6}, []int{2, 2, 3}},
	}
	for _, dt := range []dtypes.DType{dtypes.Float32, dtypes.Float64} {
		outs := graph.MustExecOnceN(b, func(x *graph.Node) []*graph.Node {
			x = graph.ConvertDType(x, dt)
			var out []*graph.Node
			for _, c := range cases {
				specs := make([]graph.SliceAxisSpec, 3)
				for a := range specs {
					specs[a] = graph.AxisRange(c.starts[a], c.limits[a])
					if c.strides != nil {
						specs[a] = specs[a].Stride(c.strides[a])
					}
				}
				out = append(out, graph.ConvertDType(graph.Slice(x, specs...), dtypes.Float64))
			}
			out = append(out, graph.ConvertDType(graph.Slice(graph.Reshape(x, 120), graph.AxisRange(7, 19)), dtypes.Float64))
			return out
		}, tensors.FromFlatDataAndDimensions(x, dims...))
		for k, o := range outs {
			got := tensors.MustCopyFlatData[float64](o)
			var want []float64
			if k == len(cases) {
				want = x[7:19]
			} else {
				c := cases[k]
				st := []int{1, 1, 1}
				if c.strides != nil {
					st = c.strides
				}
				for i := c.starts[0]; i < c.limits[0]; i += st[0] {
					for j := c.starts[1]; j < c.limits[1]; j += st[1] {
						for l := c.starts[2]; l < c.limits[2]; l += st[2] {
							want = append(want, x[(i*5+j)*6+l])
						}
					}
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s slice %d: got %v, want %v", dt, k, got, want)
			}
		}
	}
}

// TestColumnBroadcastOps checks Add, Mul and Sub of a (rows, cols) operand
// and a (rows, 1) one, both ways round, ranks 2 and 3.
func TestColumnBroadcastOps(t *testing.T) {
	b := mustSimplego(t)
	const rows, cols = 6, 13
	x := make([]float32, rows*cols)
	c := make([]float32, rows)
	for i := range x {
		x[i] = float32(i)*0.25 - 7
	}
	for i := range c {
		c[i] = float32(i)*1.5 - 2
	}
	outs := graph.MustExecOnceN(b, func(x, c *graph.Node) []*graph.Node {
		xo := graph.MulScalar(x, 1) // owned: may be reused for the output
		x3, c3 := graph.Reshape(x, 2, 3, cols), graph.Reshape(c, 2, 3, 1)
		return []*graph.Node{graph.Add(x, c), graph.Mul(c, x), graph.Sub(xo, c), graph.Sub(c, x),
			graph.Reshape(graph.Sub(c3, x3), rows, cols)}
	}, tensors.FromFlatDataAndDimensions(x, rows, cols), tensors.FromFlatDataAndDimensions(c, rows, 1))
	checkBroadcastOps(t, "column", outs, x, func(i int) float32 { return c[i/cols] })
	if !colBroadcast(shapes.Make(dtypes.Float32, 4, 1), shapes.Make(dtypes.Float32, 4, 3)) ||
		colBroadcast(shapes.Make(dtypes.Float32, 1, 3), shapes.Make(dtypes.Float32, 4, 3)) ||
		colBroadcast(shapes.Make(dtypes.Float32, 4, 1), shapes.Make(dtypes.Float32, 4, 1)) {
		t.Error("colBroadcast misclassifies (4,1)/(4,3), (1,3)/(4,3) or (4,1)/(4,1)")
	}
}

// checkBroadcastOps compares the outputs of the broadcast tests' five
// operations (a+c, c·a, a−c, c−a, c−a: a from the full operand, c from the
// broadcast one) with Go's, element i against x[i] and small(i).
func checkBroadcastOps(t *testing.T, name string, outs []*tensors.Tensor, x []float32, small func(i int) float32) {
	t.Helper()
	want := []func(a, c float32) float32{
		func(a, c float32) float32 { return a + c }, func(a, c float32) float32 { return c * a },
		func(a, c float32) float32 { return a - c }, func(a, c float32) float32 { return c - a },
		func(a, c float32) float32 { return c - a },
	}
	for k, o := range outs {
		got := tensors.MustCopyFlatData[float32](o)
		for i, g := range got {
			if w := want[k](x[i], small(i)); g != w {
				t.Fatalf("%s output %d element %d: %g, want %g", name, k, i, g, w)
			}
		}
	}
}

// TestMiddleBroadcastOps checks Add, Mul and Sub with an operand broadcast
// along middle axes ((b, 1, c) against (b, s, c); inner sizes that are and
// are not multiples of 8; either side broadcast) against Go loops, and the
// classification of shapes.
func TestMiddleBroadcastOps(t *testing.T) {
	b := mustSimplego(t)
	for _, dims := range [][3]int{{3, 4, 16}, {2, 5, 7}, {4, 6, 64}} {
		nb, ns, nc := dims[0], dims[1], dims[2]
		x := make([]float32, nb*ns*nc)
		v := make([]float32, nb*nc)
		for i := range x {
			x[i] = float32(i%37)*0.25 - 3
		}
		for i := range v {
			v[i] = float32(i%11)*1.5 - 4
		}
		outs := graph.MustExecOnceN(b, func(x, v *graph.Node) []*graph.Node {
			xo := graph.MulScalar(x, 1) // owned: may be reused for the output
			v4 := graph.Reshape(v, nb, 1, 1, nc)
			x4 := graph.Reshape(x, nb, ns, 1, nc)
			return []*graph.Node{graph.Add(x, v), graph.Mul(v, x), graph.Sub(xo, v), graph.Sub(v, x),
				graph.Reshape(graph.Sub(v4, x4), nb, ns, nc)}
		}, tensors.FromFlatDataAndDimensions(x, nb, ns, nc), tensors.FromFlatDataAndDimensions(v, nb, 1, nc))
		checkBroadcastOps(t, fmt.Sprint(dims), outs, x, func(i int) float32 { return v[(i/(ns*nc))*nc+i%nc] })
	}
	f := func(d ...int) shapes.Shape { return shapes.Make(dtypes.Float32, d...) }
	for _, tc := range []struct {
		small, full shapes.Shape
		outer       int
	}{{f(3, 1, 8), f(3, 4, 8), 3}, {f(2, 1, 1, 5), f(2, 3, 4, 5), 2}, {f(1, 4, 8), f(3, 4, 8), 1}, {f(3, 4, 1), f(3, 4, 8), 12},
		{f(3, 1, 8), f(3, 4, 7), 0}, {f(3, 1, 8, 1), f(3, 4, 8, 2), 0}, {f(3, 4, 8), f(3, 4, 8), 0}} {
		if got := midBroadcast(tc.small, tc.full); got != tc.outer {
			t.Errorf("midBroadcast(%s, %s) = %d, want %d", tc.small, tc.full, got, tc.outer)
		}
	}
}

// TestMatmulBlocked checks matmulRows, with each matrix-product kernel the
// CPU runs (one-row, six-row AVX2, six-row AVX-512), against float64 loops: row counts
// around multiples of 6, column counts around multiples of 8 and 16, k = 1,
// A stored by rows and transposed, and large sizes; the error must stay
// within the float32 bound (k+2)·2⁻²⁴·Σ|a·b| and nothing past o is written.
func TestMatmulBlocked(t *testing.T) {
	defer func(v int) { matmulLevel = v }(matmulLevel)
	val := func(n, seed int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(math.Sin(float64(i*13+seed)) * 1.5)
		}
		return v
	}
	var sizes [][3]int
	for _, m := range []int{1, 5, 6, 7, 11, 12, 13, 19} {
		for _, n := range []int{3, 8, 12, 15, 16, 17, 24, 31, 32, 40, 47} {
			for _, k := range []int{1, 2, 3, 17} {
				sizes = append(sizes, [3]int{m, k, n})
			}
		}
	}
	sizes = append(sizes, [3]int{512, 200, 200}, [3]int{200, 512, 200}, [3]int{1000, 28, 25},
		[3]int{1000, 20, 20}, [3]int{98, 576, 64}, [3]int{61, 300, 129})
	for level := range matmulLevel + 1 {
		matmulLevel = level
		for _, sz := range sizes {
			m, k, n := sz[0], sz[1], sz[2]
			a, b := val(m*k, 1), val(k*n, 2)
			for _, trans := range []bool{false, true} {
				sai, sap := k, 1
				if trans {
					sai, sap = 1, m
				}
				at := make([]float32, m*k)
				for i := range m {
					for p := range k {
						at[i*sai+p*sap] = a[i*k+p]
					}
				}
				buf := make([]float32, m*n+9)
				for i := range buf {
					buf[i] = float32(math.NaN())
				}
				o := buf[:m*n]
				matmulRows(o, at, b, m, k, n, sai, sap)
				for i, v := range buf[m*n:] {
					if !math.IsNaN(float64(v)) {
						t.Fatalf("%v trans %v level %d: wrote o[%d] past the end", sz, trans, level, m*n+i)
					}
				}
				for i := range m {
					for j := range n {
						var want, scale float64
						for p := range k {
							want += float64(a[i*k+p]) * float64(b[p*n+j])
							scale += math.Abs(float64(a[i*k+p]) * float64(b[p*n+j]))
						}
						if d := math.Abs(float64(o[i*n+j]) - want); !(d <= float64(k+2)*0x1p-24*scale+1e-30) {
							t.Fatalf("%v trans %v level %d [%d,%d]: %g, want %g", sz, trans, level, i, j, o[i*n+j], want)
						}
					}
				}
			}
		}
	}
}

// benchMatmul times matmulRows for o (m×n) = A (m×k) · b (k×n), A stored
// transposed when trans, with each kernel the CPU runs: one-row ("row"),
// six-row AVX2 ("block6") and six-row AVX-512 ("block512").
func benchMatmul(b *testing.B, m, k, n int, trans bool) {
	a, w, o := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	for i := range a {
		a[i] = float32(i%13) / 13
	}
	for i := range w {
		w[i] = float32(i%7) / 7
	}
	sai, sap := k, 1
	if trans {
		sai, sap = 1, m
	}
	defer func(v int) { matmulLevel = v }(matmulLevel)
	for level, name := range []string{"row", "block6", "block512"}[:matmulLevel+1] {
		b.Run(name, func(b *testing.B) {
			matmulLevel = level
			for range b.N {
				matmulRows(o, a, w, m, k, n, sai, sap)
			}
			b.ReportMetric(2*float64(m*k*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkMatmulShapes times the products of the latent SDE (512×200·200×200
// and its weight gradient xᵀ·dy), the latent ODE (1000×28·28×25,
// 1000×20·20×20) and an im2col convolution of the MNIST ODE-Net
// (6272×576·576×64) on one goroutine.
func BenchmarkMatmulShapes(b *testing.B) {
	b.Run("512x200x200", func(b *testing.B) { benchMatmul(b, 512, 200, 200, false) })
	b.Run("T200x512x200", func(b *testing.B) { benchMatmul(b, 200, 512, 200, true) })
	b.Run("1000x28x25", func(b *testing.B) { benchMatmul(b, 1000, 28, 25, false) })
	b.Run("1000x20x20", func(b *testing.B) { benchMatmul(b, 1000, 20, 20, false) })
	b.Run("6272x576x64", func(b *testing.B) { benchMatmul(b, 6272, 576, 64, false) })
}

// TestSign32 checks the Sign kernel, NaN and signed zeros included (0, as
// simplego gives).
func TestSign32(t *testing.T) {
	b := mustSimplego(t)
	x := []float32{-2, -0.5, float32(math.Copysign(0, -1)), 0, 1e-30, 3, float32(math.NaN()), float32(math.Inf(-1)), 7, -7}
	want := []float32{-1, -1, 0, 0, 1, 1, 0, -1, 1, -1}
	// Five copies shifted by one each: every value in every vector lane and
	// in the scalar tail.
	var xs, ws []float32
	for r := range 5 {
		for i := range x {
			xs = append(xs, x[(i+r)%len(x)])
			ws = append(ws, want[(i+r)%len(x)])
		}
	}
	x, want = xs, ws
	out := graph.MustExecOnce(b, graph.Sign, x)
	got := tensors.MustCopyFlatData[float32](out)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Sign(%v) = %v, want %v", x, got, want)
	}
}

// TestBoolToFloat32 checks the Bool→Float32 conversion kernel and that
// other conversions still work.
func TestBoolToFloat32(t *testing.T) {
	b := mustSimplego(t)
	x := []float32{-2, 0, 3, float32(math.NaN()), 5, -1, 0.5, 7, 9}
	outs := graph.MustExecOnceN(b, func(x *graph.Node) []*graph.Node {
		pos := graph.GreaterThan(x, graph.ScalarZero(x.Graph(), x.DType()))
		return []*graph.Node{graph.ConvertDType(pos, dtypes.Float32), graph.ConvertDType(x, dtypes.Float64)}
	}, x)
	got := tensors.MustCopyFlatData[float32](outs[0])
	want := []float32{0, 0, 1, 0, 1, 0, 1, 1, 1}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ConvertDType(x > 0) = %v, want %v", got, want)
	}
	if g64 := tensors.MustCopyFlatData[float64](outs[1]); g64[2] != 3 || g64[6] != 0.5 {
		t.Fatalf("ConvertDType to Float64 = %v", g64)
	}
}

// TestBroadcast32 checks the BroadcastInDim kernel's cases (one value, a
// value per row, repeated rows) and a case it leaves to simplego.
func TestBroadcast32(t *testing.T) {
	b := mustSimplego(t)
	col := []float32{1, 2, 3, 4}
	row := []float32{10, 20, 30, 40, 50}
	outs := graph.MustExecOnceN(b, func(c, r *graph.Node) []*graph.Node {
		c2, r2 := graph.Reshape(c, 4, 1), graph.Reshape(r, 1, 5)
		one := graph.Reshape(graph.Slice(c, graph.AxisElem(2)), 1, 1)
		return []*graph.Node{graph.BroadcastToDims(c2, 4, 5), graph.BroadcastToDims(r2, 4, 5),
			graph.BroadcastToDims(one, 4, 5), graph.BroadcastToDims(graph.Reshape(r, 1, 1, 5), 2, 3, 5),
			graph.BroadcastPrefix(r, 4),
			graph.Reshape(graph.BroadcastToDims(graph.Reshape(c, 4, 1, 1), 4, 3, 5), 60), // trailing axes
			graph.BroadcastToDims(c2, 4, 1)}                                              // same shape
	}, col, row)
	for k, o := range outs {
		got := tensors.MustCopyFlatData[float32](o)
		if n := []int{20, 20, 20, 30, 20, 60, 4}[k]; len(got) != n {
			t.Fatalf("broadcast %d: %d values, want %d", k, len(got), n)
		}
		for i, v := range got {
			var want float32
			switch k {
			case 0:
				want = col[i/5]
			case 5:
				want = col[i/15]
			case 6:
				want = col[i]
			case 2:
				want = 3
			default:
				want = row[i%5]
			}
			if v != want {
				t.Fatalf("broadcast %d element %d: %g, want %g", k, i, v, want)
			}
		}
	}
}

// TestTransposeRuns checks transposes that keep the last axis (the kernel's
// runs: rank 2 to 6, one or several trailing axes in place, float32 and
// float64) and ones that move it (simplego's path) against index
// arithmetic.
func TestTransposeRuns(t *testing.T) {
	b := mustSimplego(t)
	cases := []struct{ dims, perm []int }{
		{[]int{2, 3, 4, 5, 3, 2}, []int{0, 1, 3, 2, 4, 5}}, // space to depth
		{[]int{2, 3, 2, 4, 2, 3}, []int{0, 2, 1, 3, 4, 5}},
		{[]int{3, 4, 5}, []int{1, 0, 2}},
		{[]int{3, 4, 5}, []int{0, 1, 2}},
		{[]int{3, 4}, []int{1, 0}},       // last axis moves
		{[]int{2, 3, 4}, []int{2, 0, 1}}, // last axis moves
		{[]int{4, 1, 3, 2}, []int{2, 0, 1, 3}},
	}
	for _, dt := range []dtypes.DType{dtypes.Float32, dtypes.Float64} {
		for _, c := range cases {
			n := 1
			for _, d := range c.dims {
				n *= d
			}
			x := make([]float64, n)
			for i := range x {
				x[i] = float64(i)
			}
			y := graph.MustExecOnce(b, func(x *graph.Node) *graph.Node {
				return graph.ConvertDType(graph.TransposeAllAxes(graph.ConvertDType(x, dt), c.perm...), dtypes.Float64)
			}, tensors.FromFlatDataAndDimensions(x, c.dims...))
			got := tensors.MustCopyFlatData[float64](y)
			// Walk the output in order: out index i (over axes of sizes
			// dims[perm[a]]) reads x at j with j[perm[a]] = i[a].
			r := len(c.dims)
			strides := make([]int, r)
			strides[r-1] = 1
			for a := r - 2; a >= 0; a-- {
				strides[a] = strides[a+1] * c.dims[a+1]
			}
			idx := make([]int, r)
			for o := range n {
				off := 0
				for a, i := range idx {
					off += i * strides[c.perm[a]]
				}
				if got[o] != x[off] {
					t.Fatalf("%s %v perm %v: out[%d] = %g, want %g", dt, c.dims, c.perm, o, got[o], x[off])
				}
				for a := r - 1; a >= 0; a-- {
					if idx[a]++; idx[a] < c.dims[c.perm[a]] {
						break
					}
					idx[a] = 0
				}
			}
		}
	}
}

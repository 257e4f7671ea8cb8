package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gosde/gosde/pkg/backend"
)

// TestGroupNormByHand compares GroupNorm on x (2, 3, 2, 4) with 2 groups
// against the formula computed directly in float64: per example and group of
// 2 channels, mean and biased variance over the 3·2·2 values.
func TestGroupNormByHand(t *testing.T) {
	const b, h, w, c, groups = 2, 3, 2, 4, 2
	r := rand.New(rand.NewPCG(3, 4))
	x := randSlice(r, b*h*w*c)
	for i := range x {
		x[i] = 3*x[i] + 1
	}
	gain := []float64{0.5, 2, -1, 1.5}
	offset := []float64{0.1, -0.2, 0.3, 0}
	out := graph.MustExecOnce(backend.MustNew(), func(x, g, o *graph.Node) *graph.Node {
		return GroupNormWith(x, groups, g, o)
	}, tensors.FromFlatDataAndDimensions(x, b, h, w, c), gain, offset)
	got := tensors.MustCopyFlatData[float64](out)
	cg := c / groups
	for n := 0; n < b; n++ {
		for gr := 0; gr < groups; gr++ {
			var vals []int
			for p := 0; p < h*w; p++ {
				for q := gr * cg; q < (gr+1)*cg; q++ {
					vals = append(vals, (n*h*w+p)*c+q)
				}
			}
			var mean, v float64
			for _, i := range vals {
				mean += x[i]
			}
			mean /= float64(len(vals))
			for _, i := range vals {
				v += (x[i] - mean) * (x[i] - mean)
			}
			v /= float64(len(vals))
			for _, i := range vals {
				q := i % c
				want := (x[i]-mean)/math.Sqrt(v+GroupNormEpsilon)*gain[q] + offset[q]
				if math.Abs(got[i]-want) > 1e-12 {
					t.Fatalf("y[%d] = %g, want %g", i, got[i], want)
				}
			}
		}
	}
}

// TestGroupNormLayer checks the layer's variables (gain 1, offset 0 at
// start, 2·channels parameters) and that each group's output has mean 0 and
// variance v/(v+ε) for input variance v.
func TestGroupNormLayer(t *testing.T) {
	ctx := context.New()
	r := rand.New(rand.NewPCG(5, 6))
	x := randSlice(r, 2*4*4*8)
	e := context.MustNewExec(backend.MustNew(), ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
		return GroupNorm(ctx.In("gn"), x, 4)
	})
	got := tensors.MustCopyFlatData[float64](e.MustExec(tensors.FromFlatDataAndDimensions(x, 2, 4, 4, 8))[0])
	n := 0
	for v := range ctx.IterVariables() {
		n += v.Shape().Size()
	}
	if n != 16 {
		t.Errorf("GroupNorm over 8 channels has %d parameters, want 16", n)
	}
	// Example 0, group 0: channels 0–1 over 16 positions.
	var mean, sq float64
	for p := 0; p < 16; p++ {
		for q := 0; q < 2; q++ {
			mean += got[p*8+q]
			sq += got[p*8+q] * got[p*8+q]
		}
	}
	mean /= 32
	if math.Abs(mean) > 1e-12 || math.Abs(sq/32-1) > 1e-4 {
		t.Errorf("group 0: mean %g, mean square %g; want 0 and ≈1", mean, sq/32)
	}
}

// TestGroupNormGradient checks the gradient of L = Σ GroupNorm(x)·R with
// respect to x, gain and offset against central finite differences.
func TestGroupNormGradient(t *testing.T) {
	b := backend.MustNew()
	r := rand.New(rand.NewPCG(7, 8))
	x, gain, offset, rr := randSlice(r, 2*2*2*4), randSlice(r, 4), randSlice(r, 4), randSlice(r, 2*2*2*4)
	loss := graph.MustNewExec(b, func(x, g, o, rr *graph.Node) *graph.Node {
		return graph.ReduceAllSum(graph.Mul(GroupNormWith(x, 2, g, o), rr))
	})
	grads := graph.MustNewExec(b, func(x, g, o, rr *graph.Node) []*graph.Node {
		return graph.Gradient(graph.ReduceAllSum(graph.Mul(GroupNormWith(x, 2, g, o), rr)), x, g, o)
	})
	args := func() []any {
		return []any{tensors.FromFlatDataAndDimensions(x, 2, 2, 2, 4), gain, offset, tensors.FromFlatDataAndDimensions(rr, 2, 2, 2, 4)}
	}
	out := grads.MustExec(args()...)
	for i, v := range [][]float64{x, gain, offset} {
		g := tensors.MustCopyFlatData[float64](out[i])
		for k := range v {
			old := v[k]
			v[k] = old + 1e-6
			up := loss.MustExec(args()...)[0].Value().(float64)
			v[k] = old - 1e-6
			down := loss.MustExec(args()...)[0].Value().(float64)
			v[k] = old
			fd := (up - down) / 2e-6
			if math.Abs(fd-g[k]) > 1e-6*(1+math.Abs(fd)) {
				t.Fatalf("argument %d, element %d: gradient %g, finite difference %g", i, k, g[k], fd)
			}
		}
	}
}

// TestGroupNormFloat32 checks GroupNormWith in float32 (on the pure-Go
// backend: gosde's reduction and broadcasting kernels) against float64
// (checked against finite differences above): the value and the gradients
// of L = Σ y·R with respect to x, gain and offset.
func TestGroupNormFloat32(t *testing.T) {
	b := backend.MustNew()
	r := rand.New(rand.NewPCG(9, 10))
	for _, d := range [][4]int{{2, 2, 2, 4}, {3, 3, 3, 16}} {
		n := d[0] * d[1] * d[2] * d[3]
		x, gain, offset, rr := randSlice(r, n), randSlice(r, d[3]), randSlice(r, d[3]), randSlice(r, n)
		run := func(dt dtypes.DType) [][]float64 {
			outs := graph.MustExecOnceN(b, func(x, g, o, rr *graph.Node) []*graph.Node {
				x, g, o, rr = graph.ConvertDType(x, dt), graph.ConvertDType(g, dt), graph.ConvertDType(o, dt), graph.ConvertDType(rr, dt)
				y := GroupNormWith(x, 2, g, o)
				res := []*graph.Node{y}
				res = append(res, graph.Gradient(graph.ReduceAllSum(graph.Mul(y, rr)), x, g, o)...)
				for i := range res {
					res[i] = graph.ConvertDType(res[i], dtypes.Float64)
				}
				return res
			}, tensors.FromFlatDataAndDimensions(x, d[:]...), gain, offset, tensors.FromFlatDataAndDimensions(rr, d[:]...))
			vals := make([][]float64, len(outs))
			for i, o := range outs {
				vals[i] = tensors.MustCopyFlatData[float64](o)
			}
			return vals
		}
		want, got := run(dtypes.Float64), run(dtypes.Float32)
		for i, name := range []string{"y", "dx", "dgain", "doffset"} {
			for k := range want[i] {
				if math.Abs(got[i][k]-want[i][k]) > 1e-4*(1+math.Abs(want[i][k])) {
					t.Fatalf("%v %s[%d]: float32 %g, float64 %g", d, name, k, got[i][k], want[i][k])
				}
			}
		}
	}
}

// TestRectifiedLinear checks max(x, 0) and its gradient R·[x > 0] for
// L = Σ RectifiedLinear(x)·R.
func TestRectifiedLinear(t *testing.T) {
	x := []float64{-2, -0.5, 0.25, 3, -1e-3, 7}
	rr := []float64{1, 2, 3, 4, 5, 6}
	out := graph.MustExecOnceN(backend.MustNew(), func(x, rr *graph.Node) []*graph.Node {
		y := RectifiedLinear(x)
		return []*graph.Node{y, graph.Gradient(graph.ReduceAllSum(graph.Mul(y, rr)), x)[0]}
	}, x, rr)
	y, g := tensors.MustCopyFlatData[float64](out[0]), tensors.MustCopyFlatData[float64](out[1])
	for i, v := range x {
		want, wantG := 0.0, 0.0
		if v > 0 {
			want, wantG = v, rr[i]
		}
		if y[i] != want || g[i] != wantG {
			t.Fatalf("x=%g: y %g, gradient %g; want %g, %g", v, y[i], g[i], want, wantG)
		}
	}
}

// TestGroupNormTwoGradients takes two gradients of one GroupNorm node in one
// graph (as an optimizer and a vector–Jacobian product may): each must equal
// the gradient taken alone.
func TestGroupNormTwoGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	x := tensors.FromFlatDataAndDimensions(randSlice(r, 2*3*3*4), 2, 3, 3, 4)
	r1 := tensors.FromFlatDataAndDimensions(randSlice(r, 2*3*3*4), 2, 3, 3, 4)
	r2 := tensors.FromFlatDataAndDimensions(randSlice(r, 2*3*3*4), 2, 3, 3, 4)
	b := backend.MustNew()
	both := graph.MustExecOnceN(b, func(x, r1, r2 *graph.Node) []*graph.Node {
		y := GroupNormWith(x, 2, nil, nil)
		return []*graph.Node{
			graph.Gradient(graph.ReduceAllSum(graph.Mul(y, r1)), x)[0],
			graph.Gradient(graph.ReduceAllSum(graph.Mul(y, r2)), x)[0],
		}
	}, x, r1, r2)
	for i, rr := range []*tensors.Tensor{r1, r2} {
		alone := graph.MustExecOnce(b, func(x, rr *graph.Node) *graph.Node {
			return graph.Gradient(graph.ReduceAllSum(graph.Mul(GroupNormWith(x, 2, nil, nil), rr)), x)[0]
		}, x, rr)
		got, want := tensors.MustCopyFlatData[float64](both[i]), tensors.MustCopyFlatData[float64](alone)
		for k := range want {
			if math.Abs(got[k]-want[k]) > 1e-12 {
				t.Fatalf("gradient %d, element %d: %g in one graph, %g alone", i, k, got[k], want[k])
			}
		}
	}
}

// TestGroupNormManyPositions covers the reduction path for many positions
// (s·c > maxIndicatorRows): values against the formula, and a few elements
// of the gradient against central finite differences.
func TestGroupNormManyPositions(t *testing.T) {
	const b, s, c, groups = 2, 33000, 2, 1
	r := rand.New(rand.NewPCG(15, 16))
	x, rr := randSlice(r, b*s*c), randSlice(r, b*s*c)
	be := backend.MustNew()
	xT := func() *tensors.Tensor { return tensors.FromFlatDataAndDimensions(x, b, s, c) }
	rT := tensors.FromFlatDataAndDimensions(rr, b, s, c)
	loss := graph.MustNewExec(be, func(x, rr *graph.Node) *graph.Node {
		return graph.ReduceAllSum(graph.Mul(GroupNormWith(x, groups, nil, nil), rr))
	})
	out := graph.MustExecOnceN(be, func(x, rr *graph.Node) []*graph.Node {
		y := GroupNormWith(x, groups, nil, nil)
		return []*graph.Node{y, graph.Gradient(graph.ReduceAllSum(graph.Mul(y, rr)), x)[0]}
	}, xT(), rT)
	y, g := tensors.MustCopyFlatData[float64](out[0]), tensors.MustCopyFlatData[float64](out[1])
	for n := 0; n < b; n++ {
		vals := x[n*s*c : (n+1)*s*c]
		var mean, v float64
		for _, u := range vals {
			mean += u
		}
		mean /= float64(len(vals))
		for _, u := range vals {
			v += (u - mean) * (u - mean)
		}
		v /= float64(len(vals))
		for i, u := range vals {
			want := (u - mean) / math.Sqrt(v+GroupNormEpsilon)
			if math.Abs(y[n*s*c+i]-want) > 1e-10 {
				t.Fatalf("y[%d] = %g, want %g", n*s*c+i, y[n*s*c+i], want)
			}
		}
	}
	for _, k := range []int{0, 17, s*c - 1, s * c, 2*s*c - 1} {
		old := x[k]
		x[k] = old + 1e-6
		up := loss.MustExec(xT(), rT)[0].Value().(float64)
		x[k] = old - 1e-6
		down := loss.MustExec(xT(), rT)[0].Value().(float64)
		x[k] = old
		if fd := (up - down) / 2e-6; math.Abs(fd-g[k]) > 1e-5*(1+math.Abs(fd)) {
			t.Fatalf("dL/dx[%d] = %g, finite difference %g", k, g[k], fd)
		}
	}
}

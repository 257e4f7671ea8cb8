package nn

import (
	"math"
	"math/rand/v2"
	"testing"

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

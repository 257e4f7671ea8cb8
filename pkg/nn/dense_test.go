package nn_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/layers"
	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/nn"
)

// normals returns n standard normal float64 values from a seeded generator.
func normals(seed uint64, n int) []float64 {
	r := rand.New(rand.NewPCG(seed, 7))
	v := make([]float64, n)
	for i := range v {
		v[i] = r.NormFloat64()
	}
	return v
}

func size(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

func inputs(dims [][]int, data [][]float64) []any {
	args := make([]any, len(dims))
	for i := range dims {
		args[i] = tensors.FromFlatDataAndDimensions(data[i], dims[i]...)
	}
	return args
}

// gradCheck compares the autodiff gradient of the scalar loss(xs) with respect
// to every input (float64, filled with seeded normals) with central finite
// differences, and fails when the relative error (2-norm) is not below tol.
// It runs on the default parallel executor with a watchdog for hangs.
func gradCheck(t *testing.T, loss func(xs []*graph.Node) *graph.Node, tol float64, dims ...[]int) {
	t.Helper()
	b := backend.Shared()
	data := make([][]float64, len(dims))
	for i, d := range dims {
		data[i] = normals(uint64(i+1), size(d))
	}
	gradExec := graph.MustNewExec(b, func(xs []*graph.Node) []*graph.Node { return graph.Gradient(loss(xs), xs...) })
	lossExec := graph.MustNewExec(b, loss)
	var grads [][]float64
	withWatchdog(t, func() {
		for _, out := range gradExec.MustExec(inputs(dims, data)...) {
			grads = append(grads, tensors.MustCopyFlatData[float64](out))
		}
	})
	f := func() float64 { return lossExec.MustExec1(inputs(dims, data)...).Value().(float64) }
	const h = 1e-6
	for i := range data {
		var diff, norm float64
		for j := range data[i] {
			orig := data[i][j]
			data[i][j] = orig + h
			fp := f()
			data[i][j] = orig - h
			fm := f()
			data[i][j] = orig
			num := (fp - fm) / (2 * h)
			diff += (num - grads[i][j]) * (num - grads[i][j])
			norm += num * num
		}
		rel := math.Sqrt(diff / max(norm, 1e-300))
		if !(rel < tol) {
			t.Errorf("input %d: gradient relative error %.3g, want < %g", i, rel, tol)
		}
	}
}

// withWatchdog runs fn and fails the test if it does not return within a minute
// (the pure-Go backend's parallel executor can hang on malformed custom gradients).
func withWatchdog(t *testing.T, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("execution did not finish within a minute (executor hang?)")
	}
}

// weighted returns Σ wᵢ·yᵢ with fixed pseudo-random weights, a loss whose
// gradient exercises every output element differently.
func weighted(y *graph.Node) *graph.Node {
	w := normals(99, y.Shape().Size())
	return graph.ReduceAllSum(graph.Mul(y, graph.Const(y.Graph(), tensors.FromFlatDataAndDimensions(w, y.Shape().Dimensions...))))
}

func TestLinearGradientFiniteDifferences(t *testing.T) {
	t.Run("rank2+bias", func(t *testing.T) {
		gradCheck(t, func(xs []*graph.Node) *graph.Node {
			return weighted(graph.Tanh(nn.Linear(xs[0], xs[1], xs[2])))
		}, 1e-7, []int{5, 3}, []int{3, 4}, []int{4})
	})
	t.Run("rank3-nobias", func(t *testing.T) {
		gradCheck(t, func(xs []*graph.Node) *graph.Node {
			return weighted(graph.Square(nn.Linear(xs[0], xs[1], nil)))
		}, 1e-7, []int{2, 3, 4}, []int{4, 2})
	})
	t.Run("rank1", func(t *testing.T) {
		gradCheck(t, func(xs []*graph.Node) *graph.Node {
			return weighted(graph.Sin(nn.Linear(xs[0], xs[1], xs[2])))
		}, 1e-7, []int{3}, []int{3, 2}, []int{2})
	})
	t.Run("second-order", func(t *testing.T) {
		// Gradient of a loss built from a first gradient: d/dx,W,b Σ(∂L/∂x)².
		gradCheck(t, func(xs []*graph.Node) *graph.Node {
			inner := weighted(graph.Tanh(nn.Linear(xs[0], xs[1], xs[2])))
			return graph.ReduceAllSum(graph.Square(graph.Gradient(inner, xs[0])[0]))
		}, 1e-6, []int{4, 3}, []int{3, 2}, []int{2})
	})
	t.Run("two-layers-two-gradients", func(t *testing.T) {
		// x feeds two layers and the loss sums both: gradients must accumulate.
		gradCheck(t, func(xs []*graph.Node) *graph.Node {
			h := graph.Tanh(nn.Linear(xs[0], xs[1], nil))
			return graph.Add(weighted(nn.Linear(h, xs[2], nil)), weighted(graph.Square(nn.Linear(xs[0], xs[1], nil))))
		}, 1e-7, []int{4, 3}, []int{3, 5}, []int{5, 2})
	})
}

// TestDenseMatchesLayersDense checks that nn.Dense gives the same outputs and
// gradients (w.r.t. x and both variables) as GoMLX's layers.Dense on the same
// variables, in one graph where Gradient is called twice.
func TestDenseMatchesLayersDense(t *testing.T) {
	ctx := context.New()
	x := tensors.FromFlatDataAndDimensions(normals(5, 2*6*4), 2, 6, 4)
	exec := context.MustNewExec(backend.Shared(), ctx, func(ctx *context.Context, x *graph.Node) []*graph.Node {
		yPlain := layers.Dense(ctx, x, true, 3)
		yFast := nn.Dense(ctx.In("dense").Reuse(), x, 3, true)
		g := x.Graph()
		w := ctx.In("dense").GetVariable("weights").ValueGraph(g)
		bias := ctx.In("dense").GetVariable("biases").ValueGraph(g)
		gPlain := graph.Gradient(weighted(graph.Tanh(yPlain)), x, w, bias)
		gFast := graph.Gradient(weighted(graph.Tanh(yFast)), x, w, bias)
		return append([]*graph.Node{yPlain, yFast}, append(gPlain, gFast...)...)
	})
	var outs []*tensors.Tensor
	withWatchdog(t, func() { outs = exec.MustExec(x) })
	names := []string{"y", "dx", "dW", "db"}
	pairs := [][2]int{{0, 1}, {2, 5}, {3, 6}, {4, 7}}
	for i, p := range pairs {
		a := tensors.MustCopyFlatData[float64](outs[p[0]])
		c := tensors.MustCopyFlatData[float64](outs[p[1]])
		for j := range a {
			if math.Abs(a[j]-c[j]) > 1e-12*(1+math.Abs(a[j])) {
				t.Fatalf("%s[%d]: layers.Dense %g, nn.Dense %g", names[i], j, a[j], c[j])
			}
		}
	}
	if got := outs[1].Shape().Dimensions; len(got) != 3 || got[2] != 3 {
		t.Errorf("nn.Dense output shape %v, want [2 6 3]", got)
	}
}

// TestLinearNonFiniteIsolated checks that an Inf in one row of x does not turn
// the other rows' outputs into NaN.
func TestLinearNonFiniteIsolated(t *testing.T) {
	x := [][]float64{{math.Inf(1), 1}, {1, 2}}
	w := [][]float64{{1, 0}, {0, 1}}
	out := graph.MustExecOnce(backend.Shared(), func(x, w *graph.Node) *graph.Node { return nn.Linear(x, w, nil) }, x, w)
	got := out.Value().([][]float64)
	if got[1][0] != 1 || got[1][1] != 2 {
		t.Errorf("row 1 = %v, want [1 2]", got[1])
	}
}

func TestDenseBadInput(t *testing.T) {
	for name, fn := range map[string]func(ctx *context.Context, x *graph.Node) *graph.Node{
		"outDim": func(ctx *context.Context, x *graph.Node) *graph.Node { return nn.Dense(ctx, x, 0, true) },
		"scalar": func(ctx *context.Context, x *graph.Node) *graph.Node {
			return nn.Dense(ctx, graph.ReduceAllSum(x), 2, true)
		},
	} {
		_, err := context.ExecOnce(backend.Shared(), context.New(), fn, [][]float64{{1, 2}})
		if err == nil {
			t.Errorf("%s: expected an error", name)
		}
	}
}

// mlpGradStep builds a gradient step of a tanh MLP 8→64→8 (batch 256,
// float32), with nn.Dense or with plain graph.Dot layers.
func mlpGradStep(fast bool) func(ctx *context.Context, x *graph.Node) []*graph.Node {
	layer := func(ctx *context.Context, x *graph.Node, out int) *graph.Node {
		if fast {
			return nn.Dense(ctx, x, out, true)
		}
		w := ctx.VariableWithShape("weights", shapes.Make(x.DType(), x.Shape().Dim(-1), out)).ValueGraph(x.Graph())
		b := ctx.VariableWithShape("biases", shapes.Make(x.DType(), out)).ValueGraph(x.Graph())
		return graph.Add(graph.Dot(x, w), graph.ExpandAxes(b, 0))
	}
	return func(ctx *context.Context, x *graph.Node) []*graph.Node {
		h := graph.Tanh(layer(ctx.In("l0"), x, 64))
		y := layer(ctx.In("l1"), h, 8)
		loss := graph.ReduceAllMean(graph.Square(y))
		var vars []*graph.Node
		for v := range ctx.IterVariables() {
			if v.Trainable && v.Shape().DType.IsFloat() {
				vars = append(vars, v.ValueGraph(x.Graph()))
			}
		}
		return graph.Gradient(loss, vars...)
	}
}

// BenchmarkMLPGradStep: run with
//
//	go test ./pkg/nn/ -run '^$' -bench MLPGradStep -benchtime 2s
func BenchmarkMLPGradStep(b *testing.B) {
	for _, bc := range []struct {
		name string
		fast bool
	}{{"nn.Dense", true}, {"graph.Dot", false}} {
		b.Run(bc.name, func(b *testing.B) { benchGradStep(b, backend.Shared(), bc.fast) })
	}
}

func benchGradStep(b *testing.B, be backends.Backend, fast bool) {
	x := tensors.FromShape(shapes.Make(dtypes.Float32, 256, 8))
	exec := context.MustNewExec(be, context.New(), mlpGradStep(fast))
	exec.MustExec(x) // compile and initialise
	b.ResetTimer()
	for range b.N {
		for _, t := range exec.MustExec(x) {
			t.MustFinalizeAll()
		}
	}
}

package nn_test

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/nn"
)

// grid returns n points evenly spaced on [lo, hi].
func grid(lo, hi float64, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = lo + (hi-lo)*float64(i)/float64(n-1)
	}
	return v
}

func TestFastTanhAccuracy(t *testing.T) {
	xs := append(grid(-30, 30, 6001), 1e-8, -1e-12, 0, 710, -710, math.Inf(1), math.Inf(-1))
	out := graph.MustExecOnce(backend.Shared(), nn.FastTanh, xs)
	got := out.Value().([]float64)
	var worst float64
	for i, x := range xs {
		worst = max(worst, math.Abs(got[i]-math.Tanh(x)))
	}
	if worst > 4.5e-16 {
		t.Errorf("float64: max |FastTanh - math.Tanh| = %.3g, want <= 4.5e-16", worst)
	}
	xs32 := make([]float32, len(xs))
	for i, x := range xs {
		xs32[i] = float32(x)
	}
	got32 := graph.MustExecOnce(backend.Shared(), nn.FastTanh, xs32).Value().([]float32)
	var worst32 float64
	for i, x := range xs32 {
		worst32 = max(worst32, math.Abs(float64(got32[i])-math.Tanh(float64(x))))
	}
	if worst32 > 2.5e-7 {
		t.Errorf("float32: max |FastTanh - math.Tanh| = %.3g, want <= 2.5e-7", worst32)
	}
	t.Logf("max abs error: float64 %.2g, float32 %.2g", worst, worst32)
}

func TestActivations(t *testing.T) {
	xs := append(grid(-5, 5, 101), -50, 50, 1e-9)
	want := map[nn.Activation]func(float64) float64{
		nn.Identity: func(x float64) float64 { return x },
		nn.Tanh:     math.Tanh,
		nn.ELU: func(x float64) float64 {
			if x > 0 {
				return x
			}
			return math.Expm1(x)
		},
		nn.ReLU:     func(x float64) float64 { return max(x, 0) },
		nn.Softplus: func(x float64) float64 { return math.Log1p(math.Exp(x)) },
		nn.Sigmoid:  func(x float64) float64 { return 1 / (1 + math.Exp(-x)) },
	}
	for act, f := range want {
		got := graph.MustExecOnce(backend.Shared(), act.Apply, xs).Value().([]float64)
		for i, x := range xs {
			if d := math.Abs(got[i] - f(x)); d > 5e-16*(1+math.Abs(f(x))) {
				t.Errorf("%s(%g) = %.17g, want %.17g", act, x, got[i], f(x))
			}
		}
		parsed, err := nn.ParseActivation(act.String())
		if err != nil || parsed != act {
			t.Errorf("ParseActivation(%q) = %v, %v", act.String(), parsed, err)
		}
	}
	if _, err := nn.ParseActivation("swish"); err == nil || !strings.Contains(err.Error(), "swish") {
		t.Errorf("ParseActivation(swish): want an error naming it, got %v", err)
	}
}

// TestActivationGradients checks each activation's gradient (including ELU
// at large inputs, where a naive Where(x>0, x, exp(x)-1) gives NaN) against
// finite differences.
func TestActivationGradients(t *testing.T) {
	for _, act := range []nn.Activation{nn.Tanh, nn.ELU, nn.ReLU, nn.Softplus, nn.Sigmoid} {
		t.Run(act.String(), func(t *testing.T) {
			gradCheck(t, func(xs []*graph.Node) *graph.Node { return weighted(act.Apply(xs[0])) }, 1e-7, []int{4, 5})
		})
	}
	g := graph.MustExecOnce(backend.Shared(), func(x *graph.Node) *graph.Node {
		return graph.Gradient(graph.ReduceAllSum(nn.ELU.Apply(x)), x)[0]
	}, []float64{1000, -1000, 2})
	if got := g.Value().([]float64); got[0] != 1 || got[1] != 0 || got[2] != 1 {
		t.Errorf("ELU gradient at [1000 -1000 2] = %v, want [1 0 1]", got)
	}
}

// TestMLPStructure checks the scopes and shapes of MLP's variables and its
// output against the same network computed in Go from the variable values.
func TestMLPStructure(t *testing.T) {
	ctx := context.New()
	x := tensors.FromFlatDataAndDimensions(normals(11, 3*2*4), 3, 2, 4)
	out := context.MustExecOnce(backend.Shared(), ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
		return nn.MLP(ctx.In("mlp"), x, []int{5, 6}, 2, nn.Softplus)
	}, x)
	if !slices.Equal(out.Shape().Dimensions, []int{3, 2, 2}) {
		t.Fatalf("output shape %v, want [3 2 2]", out.Shape().Dimensions)
	}
	wantShapes := map[string][]int{
		"/mlp/layer_0/weights": {4, 5}, "/mlp/layer_0/biases": {5},
		"/mlp/layer_1/weights": {5, 6}, "/mlp/layer_1/biases": {6},
		"/mlp/layer_2/weights": {6, 2}, "/mlp/layer_2/biases": {2},
	}
	vals := map[string][]float64{}
	for v := range ctx.IterVariables() {
		name := v.ScopeAndName()
		if strings.HasPrefix(name, "/#") { // internal state such as the RNG
			continue
		}
		ws, ok := wantShapes[name]
		if !ok {
			t.Errorf("unexpected variable %s", name)
			continue
		}
		if !slices.Equal(v.Shape().Dimensions, ws) {
			t.Errorf("%s shape %v, want %v", name, v.Shape().Dimensions, ws)
		}
		vals[name] = tensors.MustCopyFlatData[float64](v.MustValue())
	}
	if len(vals) != len(wantShapes) {
		t.Fatalf("got %d variables, want %d", len(vals), len(wantShapes))
	}
	// Forward pass in Go.
	xv := tensors.MustCopyFlatData[float64](x)
	gotY := tensors.MustCopyFlatData[float64](out)
	dims := []int{4, 5, 6, 2}
	for r := range 6 {
		h := xv[r*4 : r*4+4]
		for l := range 3 {
			w, b := vals["/mlp/layer_"+string(rune('0'+l))+"/weights"], vals["/mlp/layer_"+string(rune('0'+l))+"/biases"]
			next := make([]float64, dims[l+1])
			for j := range next {
				s := b[j]
				for i, hi := range h {
					s += hi * w[i*dims[l+1]+j]
				}
				if l < 2 {
					s = math.Log1p(math.Exp(s))
				}
				next[j] = s
			}
			h = next
		}
		for j := range 2 {
			if d := math.Abs(h[j] - gotY[r*2+j]); d > 1e-12 {
				t.Errorf("row %d out %d: MLP %g, Go %g", r, j, gotY[r*2+j], h[j])
			}
		}
	}
}

// BenchmarkTanh compares graph.Tanh and FastTanh on 256×64 float32 values:
//
//	go test ./pkg/nn/ -run '^$' -bench Tanh -benchtime 2s
func BenchmarkTanh(b *testing.B) {
	v := make([]float32, 256*64)
	for i, f := range normals(3, len(v)) {
		v[i] = float32(2 * f)
	}
	x := tensors.FromFlatDataAndDimensions(v, 256, 64)
	for _, bc := range []struct {
		name string
		fn   func(*graph.Node) *graph.Node
	}{{"graph.Tanh", graph.Tanh}, {"FastTanh", nn.FastTanh}, {"Logistic", graph.Logistic},
		{"MulScalar", func(x *graph.Node) *graph.Node { return graph.MulScalar(x, 2) }},
		{"Mul-scalar-node", func(x *graph.Node) *graph.Node { return graph.Mul(graph.Scalar(x.Graph(), x.DType(), 2), x) }},
		{"Add-same-shape", func(x *graph.Node) *graph.Node { return graph.Add(x, x) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			exec := graph.MustNewExec(backend.Shared(), bc.fn)
			exec.MustExec1(x).MustFinalizeAll()
			b.ResetTimer()
			for range b.N {
				exec.MustExec1(x).MustFinalizeAll()
			}
		})
	}
}

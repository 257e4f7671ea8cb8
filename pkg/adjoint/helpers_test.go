package adjoint_test

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/diffeq"
)

// detValues returns n deterministic pseudo-random values in [-scale, scale].
func detValues(n int, seed uint64, scale float64) []float64 {
	out := make([]float64, n)
	s := seed*0x9e3779b97f4a7c15 + 1
	for i := range out {
		s ^= s << 13
		s ^= s >> 7
		s ^= s << 17
		out[i] = scale * (2*float64(s%1000003)/1000003 - 1)
	}
	return out
}

// mlp builds z ↦ tanh(z·W1 + b1)·W2 + b2 (+ 0.3·sin(t) on the output) with
// deterministic weights created in ctx's scope.
func mlp(d, hidden int, seed uint64) diffeq.Func {
	return func(ctx *context.Context, t, z *graph.Node) *graph.Node {
		dt := z.DType()
		w1 := ctx.VariableWithValue("w1", tensorOf(detValues(d*hidden, seed, 0.8), d, hidden)).ValueGraph(z.Graph())
		b1 := ctx.VariableWithValue("b1", tensorOf(detValues(hidden, seed+1, 0.3), 1, hidden)).ValueGraph(z.Graph())
		w2 := ctx.VariableWithValue("w2", tensorOf(detValues(hidden*d, seed+2, 0.8), hidden, d)).ValueGraph(z.Graph())
		b2 := ctx.VariableWithValue("b2", tensorOf(detValues(d, seed+3, 0.3), 1, d)).ValueGraph(z.Graph())
		h := graph.Tanh(graph.Add(graph.MatMul(z, graph.ConvertDType(w1, dt)), graph.ConvertDType(b1, dt)))
		out := graph.Add(graph.MatMul(h, graph.ConvertDType(w2, dt)), graph.ConvertDType(b2, dt))
		return graph.Add(out, graph.MulScalar(graph.Sin(t), 0.3))
	}
}

func tensorOf(v []float64, dims ...int) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(v, dims...)
}

// relErr is ‖a − b‖ / ‖b‖ over flat values.
func relErr(a, b []float64) float64 {
	var num, den float64
	for i := range a {
		num += (a[i] - b[i]) * (a[i] - b[i])
		den += b[i] * b[i]
	}
	return math.Sqrt(num / den)
}

func flat(t *testing.T, x *tensors.Tensor) []float64 {
	t.Helper()
	v, err := diffeq.Float64s(x)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func nan() float64 { return math.NaN() }

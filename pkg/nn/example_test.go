package nn_test

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/nn"
)

// A Dense layer with fixed weights, its gradient with respect to the input,
// and the activations.
func ExampleDense() {
	ctx := context.New()
	ctx.In("layer").VariableWithValue("weights", [][]float64{{1, 2}, {3, 4}, {5, 6}})
	ctx.In("layer").VariableWithValue("biases", []float64{0.5, -0.5})

	outs := context.MustExecOnceN(backend.MustNew(), ctx, func(ctx *context.Context, x *graph.Node) []*graph.Node {
		y := nn.Dense(ctx.In("layer").Reuse(), x, 2, true)
		dx := graph.Gradient(graph.ReduceAllSum(y), x)[0] // each row: W·1 = [3 7 11]
		return []*graph.Node{y, dx, nn.ReLU.Apply(graph.Neg(y)), nn.FastTanh(graph.Const(x.Graph(), 0.5))}
	}, [][]float64{{1, 0, 0}, {0, 1, 1}})
	fmt.Println("y    ", outs[0].Value())
	fmt.Println("dy/dx", outs[1].Value())
	fmt.Println("relu ", outs[2].Value())
	fmt.Printf("tanh(0.5) = %.6f\n", outs[3].Value())
	// Output:
	// y     [[1.5 1.5] [8.5 9.5]]
	// dy/dx [[3 7 11] [3 7 11]]
	// relu  [[0 0] [0 0]]
	// tanh(0.5) = 0.462117
}

package backend_test

import (
	"fmt"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gosde/gosde/pkg/backend"
)

// The embedded backend, wrapped, runs Pad and Reverse, and with them the
// gradient of Slice.
func ExampleWrap() {
	b, err := backend.NewWithConfig(backend.Embedded) // New() would honour GOMLX_BACKEND
	if err != nil {
		panic(err)
	}
	exec := graph.MustNewExec(b, func(x *graph.Node) []*graph.Node {
		zero := graph.ScalarZero(x.Graph(), x.DType())
		padded := graph.Pad(x, zero, backends.PadAxis{Start: 1, End: -1, Interior: 1})
		reversed := graph.Reverse(x, 0)
		grad := graph.Gradient(graph.ReduceAllSum(graph.Slice(x, graph.AxisRange(1, 3))), x)[0]
		return []*graph.Node{padded, reversed, grad}
	})
	outs := exec.MustExec([]float32{1, 2, 3, 4})
	fmt.Println("supports Pad:", b.Capabilities().Operations[backends.OpTypePad])
	fmt.Println("pad:    ", outs[0].Value())
	fmt.Println("reverse:", outs[1].Value())
	fmt.Println("grad:   ", outs[2].Value())
	// Output:
	// supports Pad: true
	// pad:     [0 1 0 2 0 3 0]
	// reverse: [4 3 2 1]
	// grad:    [0 1 1 0]
}

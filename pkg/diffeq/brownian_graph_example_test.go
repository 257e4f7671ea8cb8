package diffeq_test

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/diffeq"
)

// Brownian increments drawn inside a graph: 3 steps of size 0.01 for 2
// paths from seed 42, starting at step 10. The same key gives the same
// numbers on any backend, and CounterNormal reproduces them on the host.
func ExampleCounterIncrements() {
	out, err := context.ExecOnce(backend.Shared(), context.New(), func(_ *context.Context, key *graph.Node) *graph.Node {
		return diffeq.CounterIncrements(key, graph.Const(key.Graph(), 0.01), 3, 2, 1)
	}, diffeq.CounterKey(42, 10, 0))
	if err != nil {
		panic(err)
	}
	dW := out.Value().([][][]float64)
	for k := range 3 {
		host := 0.1 * diffeq.CounterNormal(42, uint64(10+k), 0)
		fmt.Printf("step %d: path 0 %+.5f, path 1 %+.5f (host %+.5f, equal %v)\n", 10+k, dW[k][0][0], dW[k][1][0], host, math.Abs(host-dW[k][0][0]) < 1e-12)
	}
	// Output:
	// step 10: path 0 +0.08598, path 1 +0.09906 (host +0.08598, equal true)
	// step 11: path 0 -0.21551, path 1 -0.16753 (host -0.21551, equal true)
	// step 12: path 0 +0.00648, path 1 -0.00672 (host +0.00648, equal true)
}

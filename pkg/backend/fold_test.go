package backend

import (
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

func mustSimplego(t *testing.T) backends.Backend {
	t.Helper()
	b, err := simplego.New("")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWhereConstantFolding checks Where with constant conditions through
// the wrapper: folded cases and those that must broadcast give Where's values.
func TestWhereConstantFolding(t *testing.T) {
	b := Wrap(mustSimplego(t))
	outs := graph.MustExecOnceN(b, func(x *graph.Node) []*graph.Node {
		g := x.Graph()
		f, tr := graph.Const(g, false), graph.Const(g, true)
		s := graph.ReduceAllSum(x)
		zero := graph.ScalarZero(g, x.DType())
		return []*graph.Node{
			graph.Where(f, s, zero),                       // folded: 0
			graph.Where(tr, s, zero),                      // folded: sum
			graph.Where(f, x, graph.Neg(x)),               // folded: −x
			graph.Where(f, x, zero),                       // not folded (0 broadcast to x's shape)
			graph.Add(x, graph.Where(f, s, zero)),         // x + 0
			graph.Where(graph.GreaterThan(s, zero), s, x), // not constant
		}
	}, []float64{1, 2, 3})
	check := func(k int, want ...float64) {
		got := tensors.MustCopyFlatData[float64](outs[k])
		if len(got) != len(want) {
			t.Fatalf("output %d: %v, want %v", k, got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("output %d: %v, want %v", k, got, want)
			}
		}
	}
	check(0, 0)
	check(1, 6)
	check(2, -1, -2, -3)
	check(3, 0, 0, 0)
	check(4, 1, 2, 3)
	check(5, 6, 6, 6)
}

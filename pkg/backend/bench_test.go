package backend

import (
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Benchmarks of the backend New picks; compare backends with
//
//	go test ./pkg/backend/ -run '^$' -bench . -benchtime 2s
//	GOMLX_BACKEND=xla:$PWD/.tools/xla/cpu/xla_cpu_pjrt.so go test ./pkg/backend/ -run '^$' -bench . -benchtime 2s
func benchExec(b *testing.B, fn func(x, w1, w2 *Node) *Node, x, w1, w2 *tensors.Tensor) {
	be, err := New()
	if err != nil {
		b.Fatal(err)
	}
	exec := MustNewExec(be, fn)
	exec.MustExec1(x, w1, w2).MustFinalizeAll() // compile
	b.ResetTimer()
	for range b.N {
		out := exec.MustExec1(x, w1, w2)
		out.Value() // bring the result to the host
		out.MustFinalizeAll()
	}
}

func randTensor(dims ...int) *tensors.Tensor {
	t := tensors.FromShape(shapes.Make(dtypes.Float32, dims...))
	tensors.MutableFlatData(t, func(flat []float32) {
		for i := range flat {
			flat[i] = float32((i*7919)%1000)/1000 - 0.5
		}
	})
	return t
}

// BenchmarkMatmul512: one 512×512 by 512×512 float32 matmul.
func BenchmarkMatmul512(b *testing.B) {
	a := randTensor(512, 512)
	benchExec(b, func(x, w1, _ *Node) *Node { return Dot(x, w1) }, a, randTensor(512, 512), randTensor(1))
}

// BenchmarkMLPGrad: loss and weight gradients of tanh MLP 8→64→8, batch 256, float32.
func BenchmarkMLPGrad(b *testing.B) {
	benchExec(b, func(x, w1, w2 *Node) *Node {
		loss := ReduceAllMean(Square(Dot(Tanh(Dot(x, w1)), w2)))
		g := Gradient(loss, w1, w2)
		return Add(ReduceAllSum(g[0]), ReduceAllSum(g[1]))
	}, randTensor(256, 8), randTensor(8, 64), randTensor(64, 8))
}

// BenchmarkMLPForward100: 100 chained tanh MLP 8→64→8 evaluations (an
// unrolled Euler loop z += 0.01·f(z)), batch 256, float32.
func BenchmarkMLPForward100(b *testing.B) {
	benchExec(b, func(x, w1, w2 *Node) *Node {
		for range 100 {
			x = Add(x, MulScalar(Dot(Tanh(Dot(x, w1)), w2), 0.01))
		}
		return x
	}, randTensor(256, 8), randTensor(8, 64), randTensor(64, 8))
}

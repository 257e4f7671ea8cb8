package bench_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/gosde/gosde/internal/compilestats"
	"github.com/gosde/gosde/pkg/adjoint"
	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/diffeq"
)

// compileCountModel is a small ODE model: z0 = x·We (3 → 2), dz/dt =
// tanh(z·W1)·W2 (hidden 8), loss Σ_i mean((z_i·Wd − x)²) over the save
// times.
func compileCountModel() adjoint.Model {
	weight := func(ctx *context.Context, g *graph.Graph, name string, in, out int, seed float64) *graph.Node {
		v := make([]float64, in*out)
		for i := range v {
			v[i] = 0.6 * math.Sin(seed+1.7*float64(i))
		}
		return ctx.VariableWithValue(name, tensors.FromFlatDataAndDimensions(v, in, out)).ValueGraph(g)
	}
	return adjoint.Model{
		Encode: func(ctx *context.Context, in []*graph.Node) (*graph.Node, []*graph.Node) {
			return graph.MatMul(in[0], weight(ctx, in[0].Graph(), "we", 3, 2, 1)), nil
		},
		ODE: func(ctx *context.Context, _, z *graph.Node) *graph.Node {
			h := graph.Tanh(graph.MatMul(z, weight(ctx, z.Graph(), "w1", 2, 8, 2)))
			return graph.MatMul(h, weight(ctx, z.Graph(), "w2", 8, 2, 3))
		},
		Loss: func(ctx *context.Context, zs, in, _ []*graph.Node) *graph.Node {
			loss := graph.ScalarZero(in[0].Graph(), in[0].DType())
			for _, z := range zs {
				d := graph.Sub(graph.MatMul(z, weight(ctx, z.Graph(), "wd", 2, 3, 4)), in[0])
				loss = graph.Add(loss, graph.ReduceAllMean(graph.Mul(d, d)))
			}
			return loss
		},
	}
}

// trainCompiles trains the model n steps with the given gradient method
// and Dopri5. With changing set, step i runs over a horizon that changes
// from step to step (so every step has another step plan); otherwise every
// step runs over [0, 2] with a learning rate small enough to keep the plan.
// It returns the executables compiled and the forward
// NFE of each step.
func trainCompiles(t *testing.T, method adjoint.Method, n int, changing bool) (int, []int) {
	t.Helper()
	b := compilestats.Wrap(backend.Shared())
	lr := 0.01
	if !changing {
		lr = 1e-6 // small enough to keep the step plan
	}
	tr, err := adjoint.NewTrainer(b, context.New(), compileCountModel(), adjoint.TrainerConfig{
		Method: method, Solver: diffeq.Options{Method: diffeq.Dopri5, RTol: 1e-6, ATol: 1e-8},
		Optimizer: optimizers.Adam().LearningRate(lr).Done()})
	if err != nil {
		t.Fatal(err)
	}
	x := tensors.FromFlatDataAndDimensions([]float64{0.3, -0.2, 0.5, 0.1, 0.4, -0.6, -0.3, 0.2, 0.1, 0.5, -0.1, 0.3}, 4, 3)
	var nfe []int
	for i := range n {
		T := 2.0
		if changing {
			// Horizons 0.5 … 4 in a scrambled order (golden-ratio sequence).
			T = 0.5 + 3.5*math.Mod(float64(i)*0.6180339887, 1)
		}
		loss, err := tr.Step([]*tensors.Tensor{x}, []float64{0, T / 2, T})
		if err != nil {
			t.Fatal(err)
		}
		if math.IsNaN(loss) {
			t.Fatalf("step %d: loss NaN", i)
		}
		nfe = append(nfe, tr.NFE().Forward)
	}
	return b.Stats().Executables, nfe
}

// TestCompilesDoNotGrowWithSteps trains 3 and then 12 steps with Dopri5
// and checks that the 12-step run compiles no more executables than the
// 3-step run:
//   - adjoint.Direct with one horizon and one step plan: its graphs are
//     cached per plan length, so repeating a plan compiles nothing;
//   - adjoint.Checkpointed (chunk executables independent of the plan)
//     with a horizon that changes every step.
//
// Direct with changing horizons compiles one graph per padded plan length
// (diffeq.PaddedLen) and is only logged.
func TestCompilesDoNotGrowWithSteps(t *testing.T) {
	for _, tc := range []struct {
		method   adjoint.Method
		changing bool
		assert   bool
	}{
		{adjoint.Direct, false, true},
		{adjoint.Direct, true, false},
		{adjoint.Checkpointed, true, true},
	} {
		t.Run(fmt.Sprintf("%s/changing=%v", tc.method, tc.changing), func(t *testing.T) {
			if !tc.assert && testing.Short() {
				t.Skip("informational (about 90 s of compilation on XLA CPU); skipped with -short")
			}
			c3, n3 := trainCompiles(t, tc.method, 3, tc.changing)
			c12, n12 := trainCompiles(t, tc.method, 12, tc.changing)
			t.Logf("3 steps: %d executables (forward NFE %v); 12 steps: %d executables (%v)", c3, n3, c12, n12)
			if tc.assert && c12 > c3 {
				t.Errorf("12 training steps compiled %d executables, 3 steps %d: compilation grows with the number of steps", c12, c3)
			}
		})
	}
}

package diffeq_test

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/layers"

	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/diffeq"
)

// A neural vector field built from ordinary GoMLX layers works with the
// context a user naturally passes (a plain context.New(), whose weights do
// not exist yet) in every host solve: the solver creates them at the first
// evaluation and reuses them at every later one. The solution is checked
// against the field the created weights define: a linear layer z·W + b,
// whose flow over [0, 1] is z(1) = e^{Wᵀ}(z0 + W⁻ᵀb) − W⁻ᵀb; here W is
// read back and the check is done through a fine RK4 reference on the
// host.
func TestNeuralFieldPlainContext(t *testing.T) {
	b := backend.Shared()
	lin := func(ctx *context.Context, _, z *graph.Node) *graph.Node {
		return layers.Dense(ctx.In("field"), z, true, 2)
	}
	z0 := diffeq.FromFloat64s(dtypes.Float64, []float64{0.3, -0.2, 0.1, 0.4}, 2, 2)
	for _, m := range []diffeq.Method{diffeq.RK4, diffeq.Dopri5} {
		ctx := context.New()
		s, err := diffeq.NewODESolver(b, ctx, lin, diffeq.Options{Method: m, Dt: 0.01, RTol: 1e-9, ATol: 1e-12})
		if err != nil {
			t.Fatal(err)
		}
		sol, err := s.Solve(z0, []float64{0, 1})
		if err != nil {
			t.Fatalf("%s with a plain context: %v", m, err)
		}
		w := ctx.In("field").In("dense").GetVariable("weights")
		bias := ctx.In("field").In("dense").GetVariable("biases")
		if w == nil || bias == nil {
			var names []string
			for v := range ctx.IterVariables() {
				names = append(names, v.ScopeAndName())
			}
			t.Fatalf("%s: weights not found among %v", m, names)
		}
		wv, _ := diffeq.Float64s(w.MustValue())
		bv, _ := diffeq.Float64s(bias.MustValue())
		got, _ := diffeq.Float64s(sol.Ys[1])
		zv, _ := diffeq.Float64s(z0)
		for r := range 2 {
			x := []float64{zv[2*r], zv[2*r+1]}
			const n = 10000
			h := 1.0 / n
			f := func(x []float64) []float64 {
				return []float64{x[0]*wv[0] + x[1]*wv[2] + bv[0], x[0]*wv[1] + x[1]*wv[3] + bv[1]}
			}
			add := func(x, k []float64, c float64) []float64 { return []float64{x[0] + c*k[0], x[1] + c*k[1]} }
			for range n {
				k1 := f(x)
				k2 := f(add(x, k1, h/2))
				k3 := f(add(x, k2, h/2))
				k4 := f(add(x, k3, h))
				x = []float64{x[0] + h/6*(k1[0]+2*k2[0]+2*k3[0]+k4[0]), x[1] + h/6*(k1[1]+2*k2[1]+2*k3[1]+k4[1])}
			}
			for j := range 2 {
				if math.Abs(got[2*r+j]-x[j]) > 1e-7 {
					t.Errorf("%s: z(1)[%d,%d] = %.10g, reference %.10g", m, r, j, got[2*r+j], x[j])
				}
			}
		}
	}
	sde := diffeq.SDE{Drift: lin, Diffusion: func(ctx *context.Context, _, z *graph.Node) *graph.Node {
		return graph.Sigmoid(layers.Dense(ctx.In("diffusion"), z, true, 2))
	}}
	s, err := diffeq.NewSDESolver(b, context.New(), sde, diffeq.Options{Dt: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	bm, err := diffeq.NewBrownian(1, 0, 1, 0.1, 2, 2, dtypes.Float64)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Solve(z0, []float64{0, 1}, bm); err != nil {
		t.Fatalf("SDE with a plain context: %v", err)
	}
}

package adjoint_test

import (
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/layers"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/gosde/gosde/pkg/adjoint"
	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/diffeq"
)

// dense is x·W + b with deterministic weights in ctx.
func dense(ctx *context.Context, x *graph.Node, out int, seed uint64) *graph.Node {
	in := x.Shape().Dimensions[1]
	w := ctx.VariableWithValue("w", tensorOf(detValues(in*out, seed, 0.7), in, out)).ValueGraph(x.Graph())
	b := ctx.VariableWithValue("b", tensorOf(detValues(out, seed+1, 0.2), 1, out)).ValueGraph(x.Graph())
	return graph.Add(graph.MatMul(x, w), b)
}

// encoderODEModel: Dense encoder (3 → 2, plus a tanh "stat" extra), MLP
// ODE, Dense decoder (2 → 3), loss Σ_i mean((dec(z_i) − c_i·x)²) + 0.01·Σ stat².
func encoderODEModel() adjoint.Model {
	return adjoint.Model{
		Encode: func(ctx *context.Context, in []*graph.Node) (*graph.Node, []*graph.Node) {
			z0 := dense(ctx, in[0], 2, 11)
			return z0, []*graph.Node{graph.Tanh(z0)}
		},
		ODE: mlp(2, 8, 21),
		Loss: func(ctx *context.Context, zs, in, extras []*graph.Node) *graph.Node {
			loss := graph.MulScalar(graph.ReduceAllSum(graph.Mul(extras[0], extras[0])), 0.01)
			for i, z := range zs {
				diff := graph.Sub(dense(ctx, z, 3, 31), graph.MulScalar(in[0], 1-0.3*float64(i)))
				loss = graph.Add(loss, graph.ReduceAllMean(graph.Mul(diff, diff)))
			}
			return loss
		},
	}
}

func trainerInputs() []*tensors.Tensor {
	return []*tensors.Tensor{tensorOf(detValues(12, 99, 1), 4, 3)}
}

var trainerTs = []float64{0, 0.25, 0.5, 0.75}

func newTrainer(t *testing.T, m adjoint.Method, solver diffeq.Options) (*adjoint.Trainer, *context.Context) {
	t.Helper()
	ctx := context.New()
	tr, err := adjoint.NewTrainer(backend.Shared(), ctx, encoderODEModel(), adjoint.TrainerConfig{
		Method: m, Solver: solver, Optimizer: optimizers.Adam().LearningRate(0.02).Done()})
	if err != nil {
		t.Fatal(err)
	}
	return tr, ctx
}

func varValues(t *testing.T, ctx *context.Context) map[string][]float64 {
	out := map[string][]float64{}
	for v := range ctx.IterVariables() {
		if v.Trainable {
			out[v.ScopeAndName()] = flat(t, v.MustValue())
		}
	}
	return out
}

// gradientsAgree checks that the adjoint and direct trainers with the given
// solver options give the same loss and gradients before any update.
func gradientsAgree(t *testing.T, solver diffeq.Options) (adjT, dirT *adjoint.Trainer, adjCtx, dirCtx *context.Context) {
	t.Helper()
	inputs := trainerInputs()
	adjT, adjCtx = newTrainer(t, adjoint.Adjoint, solver)
	dirT, dirCtx = newTrainer(t, adjoint.Direct, solver)
	la, ga, err := adjT.Gradients(inputs, trainerTs)
	if err != nil {
		t.Fatal(err)
	}
	ld, gd, err := dirT.Gradients(inputs, trainerTs)
	if err != nil {
		t.Fatal(err)
	}
	if len(ga) != 8 || len(gd) != 8 {
		t.Fatalf("got %d (adjoint) and %d (direct) gradients, want 8 (encoder, dynamics and decoder weights)", len(ga), len(gd))
	}
	for i, v := range adjT.Vars() {
		if dirT.Vars()[i].ScopeAndName() != v.ScopeAndName() {
			t.Fatalf("variable order differs: %s vs %s", v.ScopeAndName(), dirT.Vars()[i].ScopeAndName())
		}
		if e := relErr(flat(t, ga[i]), flat(t, gd[i])); !(e < 1e-6) {
			t.Errorf("dL/d%s: adjoint vs direct relative error %.3g", v.ScopeAndName(), e)
		} else {
			t.Logf("dL/d%s: adjoint vs direct relative error %.3g", v.ScopeAndName(), e)
		}
	}
	if d := la - ld; d > 1e-8 || d < -1e-8 {
		t.Errorf("loss differs: adjoint %g, direct %g", la, ld)
	}
	return adjT, dirT, adjCtx, dirCtx
}

// TestTrainerDenseOutput: with Solver.Dense the direct graph takes the
// host solve's steps over the save times and reads the states from the
// dense output; its gradients still match the adjoint's, with fewer
// evaluations than stopping at every save time.
func TestTrainerDenseOutput(t *testing.T) {
	solver := diffeq.Options{Method: diffeq.Dopri5, RTol: 1e-9, ATol: 1e-9}
	_, stop, _, _ := gradientsAgree(t, solver)
	solver.Dense = true
	_, dense, _, _ := gradientsAgree(t, solver)
	t.Logf("direct NFE stopping at save times %+v, dense output %+v", stop.NFE(), dense.NFE())
	if dense.NFE().Forward >= stop.NFE().Forward {
		t.Errorf("dense output took NFE %d, stopping at save times %d", dense.NFE().Forward, stop.NFE().Forward)
	}
}

func TestTrainerAdjointMatchesDirect(t *testing.T) {
	solver := diffeq.Options{Method: diffeq.Dopri5, RTol: 1e-9, ATol: 1e-9}
	inputs := trainerInputs()
	adjT, dirT, adjCtx, dirCtx := gradientsAgree(t, solver)

	var first, last float64
	for step := 0; step < 5; step++ {
		l1, err := adjT.Step(inputs, trainerTs)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dirT.Step(inputs, trainerTs); err != nil {
			t.Fatal(err)
		}
		if step == 0 {
			first = l1
		}
		last = l1
		t.Logf("step %d: loss %.6f NFE %+v", step, l1, adjT.NFE())
	}
	if !(last < first) {
		t.Errorf("loss did not decrease: %g → %g", first, last)
	}
	va, vd := varValues(t, adjCtx), varValues(t, dirCtx)
	if len(va) != 8 {
		t.Fatalf("adjoint context has %d trainable variables, want 8", len(va))
	}
	for name, a := range va {
		d := vd[name]
		maxDiff := 0.0
		for i := range a {
			maxDiff = max(maxDiff, abs(a[i]-d[i]))
		}
		t.Logf("%s: max |θ_adjoint − θ_direct| = %.3g", name, maxDiff)
		if !(maxDiff < 1e-6) {
			t.Errorf("%s: adjoint and direct parameters differ by %.3g after 5 Adam steps", name, maxDiff)
		}
	}
	nfe := adjT.NFE()
	if nfe.Forward <= 0 || nfe.Backward <= 0 {
		t.Errorf("NFE not counted: %+v", nfe)
	}
	_, zs, err := adjT.Eval(inputs, trainerTs)
	if err != nil || len(zs) != len(trainerTs) {
		t.Errorf("Eval: %v, %d states", err, len(zs))
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestTrainerSDEMethods(t *testing.T) {
	inputs := trainerInputs()
	grads := func(m adjoint.Method, method diffeq.Method) ([]float64, float64) {
		model := encoderODEModel()
		s := testSDE(diffeq.Stratonovich)
		model.ODE, model.SDE = nil, &s
		tr, err := adjoint.NewTrainer(backend.Shared(), context.New(), model, adjoint.TrainerConfig{
			Method: m, Solver: diffeq.Options{Method: method, Dt: 1.0 / 64}, Seed: 5})
		if err != nil {
			t.Fatal(err)
		}
		loss, g, err := tr.Gradients(inputs, trainerTs)
		if err != nil {
			t.Fatal(err)
		}
		if len(g) != 10 {
			t.Fatalf("%s/%s: got %d gradients, want 10", m, method, len(g))
		}
		var all []float64
		for _, x := range g {
			all = append(all, flat(t, x)...)
		}
		if _, err := tr.Step(inputs, trainerTs); err != nil {
			t.Fatal(err)
		}
		return all, loss
	}
	rev, lr := grads(adjoint.Reversible, "")
	dirRev, ld := grads(adjoint.Direct, diffeq.ReversibleHeun)
	if e := relErr(rev, dirRev); !(e < 1e-8) || abs(lr-ld) > 1e-10 {
		t.Errorf("reversible vs direct through reversible Heun: relative error %.3g, losses %g vs %g", e, lr, ld)
	}
	adj, la := grads(adjoint.Adjoint, diffeq.Heun)
	dirHeun, lh := grads(adjoint.Direct, diffeq.Heun)
	e := relErr(adj, dirHeun)
	t.Logf("stochastic adjoint vs direct (Heun, dt=1/64): relative error %.3g; losses %g %g", e, la, lh)
	if !(e < 1e-4) || abs(la-lh) > 1e-10 {
		t.Errorf("stochastic adjoint vs direct Heun: relative error %.3g, losses %g vs %g", e, la, lh)
	}
}

func TestTrainerErrors(t *testing.T) {
	inputs := trainerInputs()
	model := encoderODEModel()
	model.Loss = func(ctx *context.Context, zs, in, extras []*graph.Node) *graph.Node {
		// Finite loss, but d sqrt(x)/dx at x = 0 makes dL/dz(ts[2]) NaN.
		return graph.Add(graph.ReduceAllSum(zs[1]), graph.Sqrt(graph.ReduceAllSum(graph.MulScalar(zs[2], 0))))
	}
	tr, err := adjoint.NewTrainer(backend.Shared(), context.New(), model, adjoint.TrainerConfig{Solver: diffeq.Options{Method: diffeq.RK4, Dt: 0.05}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Step(inputs, trainerTs); err == nil || !strings.Contains(err.Error(), "ts[2]=0.5") {
		t.Errorf("want a non-finite gradient error naming ts[2]=0.5, got %v", err)
	} else {
		t.Log(err)
	}
	model = encoderODEModel()
	model.Encode = func(ctx *context.Context, in []*graph.Node) (*graph.Node, []*graph.Node) {
		return graph.ReduceSum(in[0], 1), nil
	}
	tr, _ = adjoint.NewTrainer(backend.Shared(), context.New(), model, adjoint.TrainerConfig{})
	if _, err := tr.Step(inputs, trainerTs); err == nil || !strings.Contains(err.Error(), "(batch, d)") {
		t.Errorf("want an error about z0's shape, got %v", err)
	} else {
		t.Log(err)
	}
	if _, err := tr.Step(inputs, []float64{0, 0.5, 0.5}); err == nil || !strings.Contains(err.Error(), "increasing") {
		t.Errorf("want an error about ts, got %v", err)
	}
	if _, err := adjoint.NewTrainer(backend.Shared(), nil, adjoint.Model{Loss: model.Loss}, adjoint.TrainerConfig{}); err == nil {
		t.Errorf("want an error for a model without dynamics")
	}
}

// A float32 model built with GoMLX layers trains with every method.
func TestTrainerFloat32Layers(t *testing.T) {
	x := tensorOf32(detValues(16*3, 4, 1), 16, 3)
	mlpF := func(ctx *context.Context, t, z *graph.Node) *graph.Node {
		return layers.Dense(ctx.In("l2"), graph.Tanh(layers.Dense(ctx.In("l1"), z, true, 16)), true, z.Shape().Dimensions[1])
	}
	diff := func(ctx *context.Context, t, z *graph.Node) *graph.Node {
		return graph.AddScalar(graph.MulScalar(graph.Sigmoid(layers.Dense(ctx.In("g"), z, true, z.Shape().Dimensions[1])), 0.2), 0.05)
	}
	for _, c := range []struct {
		name   string
		method adjoint.Method
		sde    bool
	}{{"ode-adjoint", adjoint.Adjoint, false}, {"ode-direct", adjoint.Direct, false}, {"sde-adjoint", adjoint.Adjoint, true}, {"sde-reversible", adjoint.Reversible, true}} {
		t.Run(c.name, func(t *testing.T) {
			m := adjoint.Model{
				Encode: func(ctx *context.Context, in []*graph.Node) (*graph.Node, []*graph.Node) {
					return layers.Dense(ctx, in[0], true, 4), nil
				},
				Loss: func(ctx *context.Context, zs, in, _ []*graph.Node) *graph.Node {
					d := graph.Sub(layers.Dense(ctx, zs[len(zs)-1], true, 3), in[0])
					return graph.ReduceAllMean(graph.Mul(d, d))
				},
			}
			if c.sde {
				m.SDE = &diffeq.SDE{Drift: mlpF, Diffusion: diff, Type: diffeq.Stratonovich}
			} else {
				m.ODE = mlpF
			}
			solver := diffeq.Options{Method: diffeq.Midpoint, Dt: 0.1}
			if c.sde {
				solver = diffeq.Options{Dt: 0.1} // default Heun
			}
			tr, err := adjoint.NewTrainer(backend.Shared(), context.New(), m, adjoint.TrainerConfig{
				Method: c.method, Solver: solver, Optimizer: optimizers.Adam().LearningRate(0.05).Done()})
			if err != nil {
				t.Fatal(err)
			}
			var losses []float64
			for range 8 {
				l, err := tr.Step([]*tensors.Tensor{x}, []float64{0, 0.5, 1})
				if err != nil {
					t.Fatal(err)
				}
				losses = append(losses, l)
			}
			t.Logf("losses %.4f … %.4f, NFE %+v", losses[0], losses[len(losses)-1], tr.NFE())
			if !(losses[len(losses)-1] < losses[0]) {
				t.Errorf("loss did not decrease: %v", losses)
			}
		})
	}
}

// TestTrainerReusePlan: with ReusePlan the second call reuses the first
// host solve's steps (no host evaluations, the same gradients); after the
// dynamics' weights grow 30-fold the old steps fail the tolerance and the
// step is re-planned, giving what a trainer that always plans gives.
func TestTrainerReusePlan(t *testing.T) {
	solver := diffeq.Options{Method: diffeq.Dopri5, RTol: 1e-6, ATol: 1e-6}
	inputs := trainerInputs()
	ctx := context.New()
	newT := func(reuse int) *adjoint.Trainer {
		tr, err := adjoint.NewTrainer(backend.Shared(), ctx, encoderODEModel(), adjoint.TrainerConfig{
			Method: adjoint.Direct, Solver: solver, ReusePlan: reuse})
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	reuse, fresh := newT(3), newT(0)
	grads := func(tr *adjoint.Trainer) []float64 {
		_, g, err := tr.Gradients(inputs, trainerTs)
		if err != nil {
			t.Fatal(err)
		}
		var all []float64
		for _, x := range g {
			all = append(all, flat(t, x)...)
		}
		return all
	}
	g1 := grads(reuse)
	planned := reuse.NFE().Forward
	g2 := grads(reuse)
	if e := relErr(g2, g1); e != 0 || reuse.NFE().Forward >= planned {
		t.Errorf("reused plan: gradients differ by %.3g, NFE %d after %d (want fewer: no host solve)", e, reuse.NFE().Forward, planned)
	}
	for v := range ctx.IterVariables() {
		if strings.HasPrefix(v.ScopeAndName(), "/dynamics/w") {
			w := flat(t, v.MustValue())
			for i := range w {
				w[i] *= 30
			}
			v.MustSetValue(tensorOf(w, v.Shape().Dimensions...))
		}
	}
	g3, want := grads(reuse), grads(fresh)
	if e := relErr(g3, want); e != 0 || reuse.NFE().Forward != fresh.NFE().Forward {
		t.Errorf("after the weights grew: reuse vs fresh plan gradients differ by %.3g, NFE %d vs %d (want a re-plan)", e, reuse.NFE().Forward, fresh.NFE().Forward)
	} else {
		t.Logf("re-planned: NFE %d (first plan %d)", fresh.NFE().Forward, planned)
	}
}

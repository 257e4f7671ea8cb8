package odenet

import (
	"math"
	"testing"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/gosde/gosde/pkg/adjoint"
	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/diffeq"
)

// solvedGradients returns the loss and the gradients (flattened, in Vars
// order, with the variables' scopes) of the ODE-Net on images x, labels y,
// by grad, with the given solver, from the initialisation of seed 3.
func solvedGradients(t *testing.T, b backends.Backend, cfg adjoint.TrainerConfig, x, y *tensors.Tensor) (float64, map[string][]float64, diffeq.NFE) {
	t.Helper()
	start := time.Now()
	defer func() { t.Logf("%s gradients in %.1fs", cfg.Method, time.Since(start).Seconds()) }()
	ctx := NewContext(3)
	tr, err := adjoint.NewTrainer(b, ctx, AdjointModel(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	loss, grads, err := tr.Gradients([]*tensors.Tensor{x, y}, blockTimes)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]float64{}
	for i, v := range tr.Vars() {
		g, err := diffeq.Float64s(grads[i])
		if err != nil {
			t.Fatal(err)
		}
		out[v.Scope()+"/"+v.Name()] = g
	}
	return loss, out, tr.NFE()
}

// float64Batch returns the first n training images as float64 and their labels.
func float64Batch(t *testing.T, n int) (x, y *tensors.Tensor) {
	set := fixedSet(t, n)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	x32, y := batchTensors(set, idx)
	px, err := diffeq.Float64s(x32)
	if err != nil {
		t.Fatal(err)
	}
	return diffeq.FromFloat64s(dtypes.Float64, px, n, 28, 28, 1), y
}

// relDiffs returns the relative L2 difference of a and d per variable and
// the largest one.
func relDiffs(a, d map[string][]float64) (map[string]float64, float64) {
	out := map[string]float64{}
	worst := 0.0
	for name, av := range a {
		dv := d[name]
		if len(dv) != len(av) {
			out[name] = math.Inf(1)
			worst = math.Inf(1)
			continue
		}
		var num, den float64
		for i := range av {
			num += (av[i] - dv[i]) * (av[i] - dv[i])
			den += dv[i] * dv[i]
		}
		out[name] = math.Sqrt(num / den)
		worst = max(worst, out[name])
	}
	return out, worst
}

// TestAdjointMatchesDirect checks, in float64 on 2 real images, the
// continuous adjoint's gradients of every weight against backpropagation
// through the unrolled solve (RK-Net), both with n fixed RK4 steps. The two
// differ by the discretisation (the adjoint differentiates the exact flow,
// direct the discrete one); with the ReLU dynamics at initialisation that
// error is large at few steps (9% at 4 steps) and must shrink at second
// order or better: below 1/8 of the 8-step difference at 32 steps, and
// below 0.5%. The head's gradients and the loss (same forward solve) agree
// to 1e-9. It also checks that the variables are those of Logits (same
// scopes, 208,266 parameters), so checkpoints are shared.
func TestAdjointMatchesDirect(t *testing.T) {
	x, y := float64Batch(t, 2)
	b := backend.MustNew()
	worst := map[int]float64{}
	var gA map[string][]float64
	for _, n := range []int{8, 32} {
		solver := diffeq.Options{Method: diffeq.RK4, Dt: 1 / float64(n)}
		lossD, gD, nfeD := solvedGradients(t, b, adjoint.TrainerConfig{Method: adjoint.Direct, Solver: solver}, x, y)
		var lossA float64
		var nfeA diffeq.NFE
		lossA, gA, nfeA = solvedGradients(t, b, adjoint.TrainerConfig{Method: adjoint.Adjoint, Solver: solver}, x, y)
		if math.Abs(lossD-lossA) > 1e-12*math.Abs(lossD) {
			t.Errorf("%d steps: loss direct %.15g, adjoint %.15g", n, lossD, lossA)
		}
		if nfeD != (diffeq.NFE{Forward: 4 * n}) || nfeA != (diffeq.NFE{Forward: 4 * n, Backward: 4 * n}) {
			t.Errorf("%d steps: NFE direct %+v, adjoint %+v; want %d forward, and %d backward for the adjoint", n, nfeD, nfeA, 4*n, 4*n)
		}
		rel, w := relDiffs(gA, gD)
		worst[n] = w
		if len(gA) != len(gD) {
			t.Errorf("%d steps: gradients of %d (adjoint) and %d (direct) variables", n, len(gA), len(gD))
		}
		for _, name := range []string{"/head/linear/weights", "/head/norm/gain"} {
			if !(rel[name] < 1e-9) {
				t.Errorf("%d steps: %s relative difference %.3g, want < 1e-9", n, name, rel[name])
			}
		}
		t.Logf("%d RK4 steps: largest relative difference adjoint vs direct %.3g", n, w)
	}
	if !(worst[32] < worst[8]/8 && worst[32] < 5e-3) {
		t.Errorf("relative difference %.3g at 8 steps, %.3g at 32: want < 1/8 of it and < 5e-3", worst[8], worst[32])
	}
	ref := NewContext(3)
	if _, err := ParamCount(b, ref, DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for v := range ref.IterVariables() {
		if v.Trainable {
			want[v.Scope()+"/"+v.Name()] = v.Shape().Size()
		}
	}
	total := 0
	for name, g := range gA {
		if want[name] != len(g) {
			t.Errorf("variable %s (%d elements) is not a variable of Logits (%d)", name, len(g), want[name])
		}
		total += len(g)
	}
	if len(gA) != len(want) || total != 208266 {
		t.Errorf("%d variables, %d parameters with gradients; want %d and 208266", len(gA), total, len(want))
	}
}

// TestCheckpointedMatchesDirect: the ODE-Net's gradients through the
// chunked solve (Checkpointed, 5 RK4 steps in chunks of 2, the last padded)
// and through adaptive Dopri5 equal backpropagation through the unrolled
// solve, every weight to a relative 1e-9 (float64, 2 real images).
func TestCheckpointedMatchesDirect(t *testing.T) {
	x, y := float64Batch(t, 2)
	b := backend.MustNew()
	for _, solver := range []diffeq.Options{
		{Method: diffeq.RK4, Dt: 0.2, Chunk: 2},
		{Method: diffeq.Dopri5, RTol: 1e-3, ATol: 1e-3, Chunk: 4},
	} {
		lossD, gD, _ := solvedGradients(t, b, adjoint.TrainerConfig{Method: adjoint.Direct, Solver: solver}, x, y)
		lossC, gC, nfe := solvedGradients(t, b, adjoint.TrainerConfig{Method: adjoint.Checkpointed, Solver: solver}, x, y)
		if math.Abs(lossD-lossC) > 1e-12*math.Abs(lossD) {
			t.Errorf("%s: loss direct %.15g, checkpointed %.15g", solver.Method, lossD, lossC)
		}
		rel, worst := relDiffs(gC, gD)
		if len(gC) != len(gD) || !(worst < 1e-9) {
			t.Errorf("%s: %d checkpointed vs %d direct gradients, largest relative difference %.3g (%v)", solver.Method, len(gC), len(gD), worst, rel)
		}
		t.Logf("%s: largest relative difference %.2g over %d variables; NFE %+v", solver.Method, worst, len(gC), nfe)
	}
}

// TestAdjointTrainingLowersLoss trains the ODE-Net with the adjoint through
// adaptive Dopri5 (tolerance 1e-3, float32) for 4 Adam steps on 64 real
// images and checks that the loss on them went down, that NFE were counted
// both ways, and that the checkpoint it wrote loads into the in-graph path
// (shared variables) and gives nearly the same loss with 8 RK4 steps; then
// resumes from it for one more epoch.
func TestAdjointTrainingLowersLoss(t *testing.T) {
	set := fixedSet(t, 64)
	b := backend.MustNew()
	cfg := Config{Model: ODENet, Method: diffeq.Dopri5, Steps: 1}
	solver, err := SolverOptions(cfg, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx0 := NewContext(7)
	tr0, err := adjoint.NewTrainer(b, ctx0, AdjointModel(), adjoint.TrainerConfig{Method: adjoint.Adjoint, Solver: solver})
	if err != nil {
		t.Fatal(err)
	}
	_, before, nfe0, err := EvaluateSolved(b, ctx0, tr0, set, 64)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	opts := Options{Epochs: 4, Batch: 64, LR: 3e-3, Seed: 7, OutDir: dir, Grad: adjoint.Adjoint}
	res, err := Train(b, cfg, set, set, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loss %.4f before (NFE %d), %.4f after %d steps; NFE forward %d backward %d; %.1f images/s",
		before, nfe0, res.TestLoss, res.StepsRun, res.NFEForward, res.NFEBackward, res.TrainImagesSec)
	if res.Steps != 4 || res.StepsRun != 4 || res.Params != 208266 {
		t.Errorf("steps %d run %d params %d, want 4, 4, 208266", res.Steps, res.StepsRun, res.Params)
	}
	if !(res.TestLoss < before-0.05) {
		t.Errorf("loss on the training images went from %.4f to %.4f, want a decrease of at least 0.05", before, res.TestLoss)
	}
	if res.NFEForward < 6 || res.NFEBackward < 6 {
		t.Errorf("NFE forward %d, backward %d: want ≥ 6 each (at least one Dopri5 step)", res.NFEForward, res.NFEBackward)
	}
	ctx := NewContext(99)
	if step, err := LoadCheckpoint(ctx, dir, cfg); err != nil || step != 4 {
		t.Fatalf("LoadCheckpoint: step %d, %v", step, err)
	}
	_, inGraph, err := Evaluate(b, ctx, Config{Model: ODENet, Method: diffeq.RK4, Steps: 8}, set, 64)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(inGraph-res.TestLoss) > 0.02 {
		t.Errorf("checkpoint evaluated in-graph (8 RK4 steps): loss %.4f, solved path %.4f; want within 0.02", inGraph, res.TestLoss)
	}
	// Resuming the solved path runs only the new epoch.
	opts.Epochs = 5
	checkResume(t, b, cfg, set, opts, 4, 1, 5)
}

// TestSolvedOptions checks the solver options of the solved path and that
// invalid gradient methods, tolerances and models are rejected.
func TestSolvedOptions(t *testing.T) {
	so, err := SolverOptions(Config{Model: ODENet, Method: diffeq.Dopri5, Steps: 1}, 0, 0)
	if err != nil || so.RTol != 1e-3 || so.ATol != 1e-3 || so.Dt != 0 {
		t.Errorf("dopri5 options %+v (%v), want adaptive with rtol = atol = 1e-3", so, err)
	}
	so, err = SolverOptions(Config{Model: ODENet, Method: diffeq.RK4, Steps: 4}, 0, 0)
	if err != nil || so.Dt != 0.25 {
		t.Errorf("rk4 options %+v (%v), want dt 0.25", so, err)
	}
	if _, err := SolverOptions(Config{Model: ODENet, Method: diffeq.Dopri5, Steps: 1}, math.NaN(), 0); err == nil {
		t.Error("NaN rtol accepted")
	}
	if _, err := SolverOptions(Config{Model: ResNet}, 0, 0); err == nil {
		t.Error("resnet accepted for the solved path")
	}
	o := Options{Grad: "backprop"}
	if err := o.defaults(); err == nil {
		t.Error("gradient method backprop accepted")
	}
	if _, err := adjoint.NewTrainer(backend.MustNew(), nil, AdjointModel(), adjoint.TrainerConfig{Method: adjoint.Reversible}); err == nil {
		t.Error("reversible accepted for the ODE-Net (an ODE model)")
	}
}

// TestMomentumWithGradients checks Momentum.UpdateGraphWithGradients (used
// by adjoint.Trainer) against the closed form of two steps with the
// constant gradient 3: b₁ = 3, w₁ = w₀ − lr·3; b₂ = μ·3 + 3, w₂ = w₁ − lr·b₂.
func TestMomentumWithGradients(t *testing.T) {
	b := backend.MustNew()
	ctx := context.New()
	opt := Momentum{LR: 0.1, Mu: 0.9}
	e := context.MustNewExec(b, ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
		w := ctx.WithInitializer(func(g *graph.Graph, s shapes.Shape) *graph.Node { return graph.Scalar(g, s.DType, 2) }).
			VariableWithShape("w", shapes.Make(dtypes.Float64)).ValueGraph(x.Graph())
		opt.UpdateGraphWithGradients(ctx, []*graph.Node{graph.MulScalar(x, 3)}, dtypes.Float64)
		return w
	})
	e.MustExec(1.0)
	e.MustExec(1.0)
	w2 := 2 - 0.1*3 - 0.1*(0.9*3+3)
	if got := ctx.GetVariableByScopeAndName("/", "w").MustValue().Value().(float64); math.Abs(got-w2) > 1e-12 {
		t.Errorf("w after 2 steps = %g, want %g", got, w2)
	}
	if step := optimizers.GetGlobalStep(ctx); step != 2 {
		t.Errorf("global step %d, want 2", step)
	}
}

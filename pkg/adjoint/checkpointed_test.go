package adjoint_test

import (
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

// Checkpointed gives Direct's loss and gradients (the same discrete solve,
// differentiated chunk by chunk), for a fixed-step method and for Dopri5
// with save times inside steps (dense output), with chunks that do not
// divide the number of steps.
func TestCheckpointedMatchesDirect(t *testing.T) {
	for _, tc := range []struct {
		name   string
		solver diffeq.Options
	}{
		{"rk4", diffeq.Options{Method: diffeq.RK4, Dt: 0.05, Chunk: 4}},
		{"euler", diffeq.Options{Method: diffeq.Euler, Dt: 0.1, Chunk: 16}},
		{"dopri5-dense", diffeq.Options{Method: diffeq.Dopri5, RTol: 1e-7, ATol: 1e-9, Dense: true, Chunk: 3}},
		{"dopri5", diffeq.Options{Method: diffeq.Dopri5, RTol: 1e-5, ATol: 1e-7, Chunk: 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inputs := trainerInputs()
			dir, _ := newTrainer(t, adjoint.Direct, tc.solver)
			chk, _ := newTrainer(t, adjoint.Checkpointed, tc.solver)
			ld, gd, err := dir.Gradients(inputs, trainerTs)
			if err != nil {
				t.Fatal(err)
			}
			lc, gc, err := chk.Gradients(inputs, trainerTs)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(ld-lc) > 1e-12*math.Abs(ld) {
				t.Errorf("loss: direct %.15g, checkpointed %.15g", ld, lc)
			}
			if len(gd) != len(gc) || len(gd) == 0 {
				t.Fatalf("%d direct gradients, %d checkpointed", len(gd), len(gc))
			}
			var num, den float64
			for i := range gd {
				a, b := flat(t, gd[i]), flat(t, gc[i])
				for j := range a {
					num += (a[j] - b[j]) * (a[j] - b[j])
					den += a[j] * a[j]
				}
			}
			rel := math.Sqrt(num / den)
			t.Logf("relative gradient difference %.2g (norm %.3g); NFE %+v", rel, math.Sqrt(den), chk.NFE())
			if !(rel < 1e-9) {
				t.Fatalf("checkpointed gradients differ from direct by %.3g (relative)", rel)
			}
		})
	}
}

// Training with Dopri5 under Checkpointed compiles a fixed set of
// executables: the step plans change from step to step (the weights and the
// inputs change), but after the first step no new executable is compiled,
// whereas Direct compiles a new graph for each new padded plan length.
func TestCheckpointedCompilesOnce(t *testing.T) {
	solver := diffeq.Options{Method: diffeq.Dopri5, RTol: 1e-6, ATol: 1e-8, Dense: true, Chunk: 4}
	train := func(method adjoint.Method) (first, more, plans int) {
		b := compilestats.Wrap(backend.Shared())
		tr, err := adjoint.NewTrainer(b, context.New(), encoderODEModel(), adjoint.TrainerConfig{
			Method: method, Solver: solver, Optimizer: optimizers.Adam().LearningRate(0.05).Done()})
		if err != nil {
			t.Fatal(err)
		}
		base := trainerInputs()
		nfes := map[int]bool{}
		var afterFirst compilestats.Stats
		for n := range 12 {
			// Inputs scaled up step by step: the solve needs more steps.
			in := scaled(t, base[0], 1+0.6*float64(n))
			if _, err := tr.Step([]*tensors.Tensor{in}, trainerTs); err != nil {
				t.Fatal(err)
			}
			nfes[tr.NFE().Forward] = true
			if n == 0 {
				afterFirst = b.Stats()
			}
		}
		return afterFirst.Executables, b.Stats().Sub(afterFirst).Executables, len(nfes)
	}
	first, grew, plans := train(adjoint.Checkpointed)
	dFirst, dGrew, _ := train(adjoint.Direct)
	t.Logf("checkpointed: %d executables at the first step, %d more over 11 steps with %d distinct NFE counts; direct: %d, then %d more",
		first, grew, plans, dFirst, dGrew)
	if plans < 3 {
		t.Fatalf("the step plans did not change (%d NFE counts): the test does not exercise new plans", plans)
	}
	if grew != 0 {
		t.Fatalf("%d executables compiled after the first step", grew)
	}
}

// scaled returns x·c.
func scaled(t *testing.T, x *tensors.Tensor, c float64) *tensors.Tensor {
	v := flat(t, x)
	for i := range v {
		v[i] *= c
	}
	return diffeq.FromFloat64s(x.DType(), v, x.Shape().Dimensions...)
}

// For SDE models Checkpointed gives Direct's loss and gradients on the same
// Brownian path (same Seed): Heun and the midpoint method on an Ito SDE
// with diagonal noise (solved in Stratonovich form, as Direct does), 23
// steps in chunks of 5.
func TestCheckpointedSDEMatchesDirect(t *testing.T) {
	for _, method := range []diffeq.Method{diffeq.Heun, diffeq.SDEMidpoint} {
		t.Run(string(method), func(t *testing.T) {
			m := encoderODEModel()
			m.SDE = &diffeq.SDE{Drift: m.ODE, Diffusion: func(ctx *context.Context, _, z *graph.Node) *graph.Node {
				return graph.AddScalar(graph.MulScalar(graph.Sigmoid(dense(ctx.In("g"), z, 2, 41)), 0.2), 0.05)
			}}
			m.ODE = nil
			var loss [2]float64
			var grads [2][]float64
			for i, gm := range []adjoint.Method{adjoint.Direct, adjoint.Checkpointed} {
				tr, err := adjoint.NewTrainer(backend.Shared(), context.New(), m, adjoint.TrainerConfig{
					Method: gm, Seed: 7, Solver: diffeq.Options{Method: method, Dt: 0.75 / 23, Chunk: 5}})
				if err != nil {
					t.Fatal(err)
				}
				l, gs, err := tr.Gradients(trainerInputs(), trainerTs)
				if err != nil {
					t.Fatal(err)
				}
				loss[i] = l
				for _, g := range gs {
					grads[i] = append(grads[i], flat(t, g)...)
				}
			}
			if math.Abs(loss[0]-loss[1]) > 1e-12*math.Abs(loss[0]) {
				t.Errorf("loss: direct %.15g, checkpointed %.15g", loss[0], loss[1])
			}
			var num, den float64
			for j := range grads[0] {
				num += (grads[0][j] - grads[1][j]) * (grads[0][j] - grads[1][j])
				den += grads[0][j] * grads[0][j]
			}
			rel := math.Sqrt(num / den)
			t.Logf("relative gradient difference %.2g over %d entries", rel, len(grads[0]))
			if len(grads[0]) != len(grads[1]) || len(grads[0]) == 0 || !(rel < 1e-9) {
				t.Fatalf("checkpointed gradients differ from direct: %d vs %d entries, relative %.3g", len(grads[0]), len(grads[1]), rel)
			}
		})
	}
}

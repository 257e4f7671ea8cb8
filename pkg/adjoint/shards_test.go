package adjoint_test

import (
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/adjoint"
	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/diffeq"
)

// meanModel is encoderODEModel with a loss that is a mean over the batch
// rows, as sharded training requires.
func meanModel() adjoint.Model {
	m := encoderODEModel()
	m.Loss = func(ctx *context.Context, zs, in, extras []*graph.Node) *graph.Node {
		loss := graph.MulScalar(graph.ReduceAllMean(graph.Mul(extras[0], extras[0])), 0.01)
		for i, z := range zs {
			diff := graph.Sub(dense(ctx, z, 3, 31), graph.MulScalar(in[0], 1-0.3*float64(i)))
			loss = graph.Add(loss, graph.ReduceAllMean(graph.Mul(diff, diff)))
		}
		return loss
	}
	m.BatchAxes = []int{0}
	return m
}

// TestShardedTrainer: with Shards 2 (and 3, which splits 4 rows 2/1/1) the
// loss and gradients equal the unsharded ones, for ODE direct and adjoint
// and for the stochastic adjoint (same Brownian path).
func TestShardedTrainer(t *testing.T) {
	inputs := trainerInputs()
	sde := testSDE(diffeq.Stratonovich)
	for _, tc := range []struct {
		name   string
		method adjoint.Method
		solver diffeq.Options
		sde    bool
	}{
		{"ode/direct", adjoint.Direct, diffeq.Options{Method: diffeq.RK4, Dt: 0.05}, false},
		{"ode/adjoint", adjoint.Adjoint, diffeq.Options{Method: diffeq.RK4, Dt: 0.05}, false},
		{"sde/adjoint", adjoint.Adjoint, diffeq.Options{Method: diffeq.Heun, Dt: 1.0 / 32}, true},
	} {
		run := func(shards int) (float64, []float64) {
			m := meanModel()
			if tc.sde {
				m.ODE, m.SDE = nil, &sde
			}
			tr, err := adjoint.NewTrainer(backend.Shared(), context.New(), m, adjoint.TrainerConfig{
				Method: tc.method, Solver: tc.solver, Seed: 3, Shards: shards})
			if err != nil {
				t.Fatal(err)
			}
			var loss float64
			var all []float64
			for range 2 { // the second call runs the shards concurrently
				l, g, err := tr.Gradients(inputs, trainerTs)
				if err != nil {
					t.Fatalf("%s, %d shards: %v", tc.name, shards, err)
				}
				loss, all = l, nil
				for _, x := range g {
					all = append(all, flat(t, x)...)
				}
			}
			if _, err := tr.Step(inputs, trainerTs); err != nil {
				t.Fatalf("%s, %d shards: Step: %v", tc.name, shards, err)
			}
			return loss, all
		}
		l1, g1 := run(0)
		for _, shards := range []int{2, 3} {
			ls, gs := run(shards)
			if e := relErr(gs, g1); !(e < 1e-10) || abs(ls-l1) > 1e-12 {
				t.Errorf("%s: %d shards vs one: gradient relative error %.3g, loss %g vs %g", tc.name, shards, e, ls, l1)
			} else {
				t.Logf("%s: %d shards vs one: gradient relative error %.3g", tc.name, shards, e)
			}
		}
	}
	m := encoderODEModel()
	if _, err := adjoint.NewTrainer(backend.Shared(), nil, m, adjoint.TrainerConfig{Shards: 2}); err == nil || !strings.Contains(err.Error(), "BatchAxes") {
		t.Errorf("Shards without BatchAxes: error %v", err)
	}
	m.BatchAxes = []int{0, 1}
	tr, err := adjoint.NewTrainer(backend.Shared(), nil, m, adjoint.TrainerConfig{Shards: 2, Solver: diffeq.Options{Method: diffeq.RK4, Dt: 0.1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tr.Gradients(inputs, trainerTs); err == nil || !strings.Contains(err.Error(), "BatchAxes has 2 entries for 1 inputs") {
		t.Errorf("BatchAxes of the wrong length: error %v", err)
	}
}

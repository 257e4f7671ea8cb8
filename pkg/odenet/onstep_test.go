package odenet

import (
	"math"
	"testing"

	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/diffeq"
)

// TestOnStepReportsEveryStep trains 2 epochs of 4 steps and checks that
// Options.OnStep saw steps 1…8 of 8 in order, and that the mean of the
// losses it saw in the last epoch is the Result's TrainLoss.
func TestOnStepReportsEveryStep(t *testing.T) {
	set := fixedSet(t, 32)
	var steps []int
	var losses []float64
	opts := Options{Epochs: 2, Batch: 8, Seed: 5, OnStep: func(step, total int, loss float64) {
		if total != 8 {
			t.Errorf("OnStep total = %d, want 8", total)
		}
		steps, losses = append(steps, step), append(losses, loss)
	}}
	res, err := Train(backend.MustNew(), Config{Model: ODENet, Method: diffeq.Euler, Steps: 1}, set, set, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 8 {
		t.Fatalf("OnStep called %d times, want 8", len(steps))
	}
	for i, s := range steps {
		if s != i+1 {
			t.Fatalf("OnStep steps %v, want 1…8", steps)
		}
	}
	mean := (losses[4] + losses[5] + losses[6] + losses[7]) / 4
	if math.Abs(mean-res.TrainLoss) > 1e-6*math.Abs(res.TrainLoss) {
		t.Errorf("mean of the last epoch's OnStep losses %.6f, Result.TrainLoss %.6f", mean, res.TrainLoss)
	}
}

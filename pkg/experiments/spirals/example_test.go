package spirals_test

import (
	"fmt"

	"github.com/gosde/gosde/pkg/backend"
	data "github.com/gosde/gosde/pkg/datasets/spirals"
	"github.com/gosde/gosde/pkg/experiments/spirals"
)

// Train a small latent ODE for a few steps and evaluate it on held-out
// spirals (the gosde spirals command runs the full-size version).
func Example() {
	b, err := backend.NewWithConfig("go:ops_sequential")
	if err != nil {
		panic(err)
	}
	res, err := spirals.Run(b, spirals.Config{
		Data:  data.Config{N: 40},
		Model: spirals.ModelConfig{Latent: 4, Hidden: 16, RNNHidden: 16},
		Iters: 5, Batch: 8, Span: 20, Keep: []int{10, 20},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("steps:", res.Learner.Steps(), "held-out spirals:", res.Eval.Spirals)
	// Output:
	// steps: 5 held-out spirals: 4
}

package lorenz_test

import (
	"fmt"
	"math"

	"github.com/gosde/gosde/pkg/datasets/lorenz"
)

// Generate torchsde's stochastic Lorenz data (here 4 paths): 50 times on
// [0, 1], three coordinates, normalised.
func ExampleGenerate() {
	ds, err := lorenz.Generate(lorenz.Config{Params: lorenz.Default(), N: 4, Seed: 1})
	if err != nil {
		panic(err)
	}
	var sum float64
	for i := 0; i < len(ds.Clean); i += 3 {
		sum += ds.Clean[i]
	}
	fmt.Printf("%d paths, %d times from %g to %g, %d values; normalised x1 has mean 0: %v\n",
		ds.N, len(ds.Ts), ds.Ts[0], ds.Ts[len(ds.Ts)-1], len(ds.X), math.Abs(sum) < 1e-9)
	// Output: 4 paths, 50 times from 0 to 1, 600 values; normalised x1 has mean 0: true
}

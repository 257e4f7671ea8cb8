package basics_test

import (
	"fmt"

	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/experiments/basics"
)

// Learn the 2×2 matrix of the linear spiral from one noisy trajectory.
func Example() {
	b, err := backend.NewWithConfig("go:ops_sequential")
	if err != nil {
		panic(err)
	}
	res, err := basics.Run(b, basics.Config{System: basics.LinearSpiral(), Steps: 500, Seed: 1})
	if err != nil {
		panic(err)
	}
	a := res.A
	fmt.Printf("close to A: %v\n", max(abs(a[0]+0.1), abs(a[1]+1), abs(a[2]-1), abs(a[3]+0.1)) < 0.15)
	fmt.Printf("trajectory error below 0.1: %v\n", res.TrajRMSE < 0.1)
	// Output:
	// close to A: true
	// trajectory error below 0.1: true
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

package latentsde_test

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"

	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/latentsde"
)

// The OU KL check of the reference notebook: the closed form, the exact
// expectation of the Euler estimator at dt = 1e-3, and a Monte Carlo logqp
// estimate from 2000 paths solved with the KL path term as an extra state.
func Example() {
	pair := latentsde.ReferenceOUPair // θp=10, μp=1, θq=23, μq=2, σ=0.5, z0=0
	kl, _ := pair.KLClosedForm(1)
	euler, _ := pair.EulerKL(latentsde.MustLinspace(0, 1, 100), 1e-3)
	fmt.Printf("closed form %.2f, Euler expectation %.2f\n", kl, euler)

	b, err := backend.NewWithConfig("go:ops_sequential")
	if err != nil {
		panic(err)
	}
	r, err := latentsde.OUKLCheck(b, latentsde.OUKLConfig{Pair: pair, Paths: 2000, Seed: 1, DType: dtypes.Float32})
	if err != nil {
		panic(err)
	}
	fmt.Printf("logqp within 4 standard errors: %v\n", abs(r.Logqp-r.EulerExpected) < 4*r.LogqpStderr)
	fmt.Printf("trapezoid without the ½ is about twice the KL: %.1f\n", r.TrapezoidNoHalf/r.ClosedForm)
	// Output:
	// closed form 276.41, Euler expectation 276.74
	// logqp within 4 standard errors: true
	// trapezoid without the ½ is about twice the KL: 2.0
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// KL weight schedules: linear warm-up and cyclical annealing (Fu et al. 2019).
func ExampleCyclical() {
	s := latentsde.Cyclical{Period: 100, Cycles: 2, Ratio: 0.5, Max: 1}
	for _, step := range []int{0, 25, 50, 100, 125, 300} {
		fmt.Printf("%.2f ", s.Weight(step))
	}
	fmt.Println()
	// Output: 0.00 0.50 1.00 0.00 0.50 1.00
}

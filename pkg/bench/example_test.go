package bench_test

import (
	"fmt"

	"github.com/gosde/gosde/pkg/bench"
)

// The rows of the comparison with torchsde and torchdiffeq; `gosde bench
// --rows sde256,oukl` runs some of them.
func ExampleRows() {
	for _, r := range bench.Rows() {
		fmt.Printf("%-9s %-12s anchor %g, target %g\n", r.Name, r.Unit, r.Anchor, r.Target)
	}
	// Output:
	// sde256    path-steps/s anchor 560000, target 1.1e+06
	// sde4096   path-steps/s anchor 1.57e+06, target 3.1e+06
	// sde65536  path-steps/s anchor 1.57e+06, target 3.1e+06
	// latsde    it/s         anchor 1.97, target 4
	// latsdeadj it/s         anchor 1.07, target 2
	// latode    it/s         anchor 7.1, target 14
	// latodeadj it/s         anchor 0.8, target 1.6
	// mnist     images/s     anchor 241, target 241
	// mnistadj  images/s     anchor 172, target 172
	// oukl      s            anchor 0.66, target 0.2
}

package bench

import (
	"math"
	"strings"
	"testing"

	"github.com/gosde/gosde/pkg/adjoint"
	"github.com/gosde/gosde/pkg/backend"
)

// TestMNISTTrainSmallBatch runs the MNIST rows' workload on real MNIST
// images with a batch of 4 (one timed run of 2 steps, no warm-up): a
// positive finite throughput, evaluations in both directions for the
// adjoint and forward only for direct, and an error for other methods.
func TestMNISTTrainSmallBatch(t *testing.T) {
	set, err := mnistTrainSet()
	if err != nil {
		t.Fatal(err)
	}
	set = set.Subset(64)
	for _, m := range []adjoint.Method{adjoint.Direct, adjoint.Adjoint} {
		r, err := mnistTrain(backend.Shared(), m, set, 4, Options{Repeats: 1, Warmup: -1})
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		if len(r.Value.Values) != 1 || !(r.Value.Median > 0) || math.IsInf(r.Value.Median, 0) || r.Unit != "images/s" {
			t.Fatalf("%s: result %+v", m, r)
		}
		// Dopri5 takes at least one step: 1 + 6 evaluations forward.
		if r.NFE < 7 || !strings.Contains(r.Note, "208266 parameters") {
			t.Fatalf("%s: NFE %d, note %q", m, r.NFE, r.Note)
		}
		hasBackward := !strings.Contains(r.Note, "backward 0.0")
		if hasBackward != (m == adjoint.Adjoint) {
			t.Fatalf("%s: note %q", m, r.Note)
		}
	}
	if _, err := mnistTrain(backend.Shared(), adjoint.Reversible, set, 4, Options{}); err == nil {
		t.Fatal("reversible: no error")
	}
}

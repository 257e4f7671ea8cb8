package latentsde

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/adjoint"
	"github.com/gosde/gosde/pkg/diffeq"
)

// TestAdjointModelGradients: the stochastic adjoint's gradients of the
// latent SDE's loss (through the context carried as state, into the
// encoder) match backprop through the same Heun solve on the same Brownian
// path.
func TestAdjointModelGradients(t *testing.T) {
	m, err := New(Config{DataDim: 1, LatentDim: 2, ContextDim: 3, Hidden: []int{8}, EncoderHidden: 4, DiffusionHidden: 3, Dt: 0.02, ObsScale: 0.1, DType: dtypes.Float64})
	if err != nil {
		t.Fatal(err)
	}
	data := ouData(t, 4, MustLinspace(0, 0.4, 3))
	data.X = castTo(data.X, dtypes.Float64)
	in, err := m.AdjointInputs(data, 0.7, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.New() // shared: both methods see the same weights
	// A fixed seed: the initial weights (and so the gap between the two
	// methods, a discretisation error) must not change from run to run.
	if err := ctx.SetRNGStateFromSeed(5); err != nil {
		t.Fatal(err)
	}
	grads := map[adjoint.Method][]float64{}
	var names []string
	for _, method := range []adjoint.Method{adjoint.Direct, adjoint.Adjoint} {
		tr, err := adjoint.NewTrainer(testBackend(), ctx, m.AdjointModel(data.Ts), adjoint.TrainerConfig{Method: method, Solver: diffeq.Options{Dt: 0.02}, Seed: 9})
		if err != nil {
			t.Fatal(err)
		}
		loss, gs, err := tr.Gradients(in, data.Ts)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		t.Logf("%s: loss %g", method, loss)
		names = names[:0]
		for i, g := range gs {
			v, _ := diffeq.Float64s(g)
			grads[method] = append(grads[method], v...)
			names = append(names, tr.Vars()[i].ScopeAndName())
		}
	}
	t.Logf("variables: %v", names)
	a, b := grads[adjoint.Direct], grads[adjoint.Adjoint]
	if len(a) != len(b) || len(a) == 0 {
		t.Fatalf("gradient sizes %d vs %d", len(a), len(b))
	}
	var num, den float64
	for i := range a {
		num += (a[i] - b[i]) * (a[i] - b[i])
		den += a[i] * a[i]
	}
	rel := math.Sqrt(num / den)
	t.Logf("relative difference %.3g over %d gradient entries", rel, len(a))
	if rel > 1e-3 {
		t.Errorf("adjoint vs direct gradients differ by %.3g (relative L2)", rel)
	}
}

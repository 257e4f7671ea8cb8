package latentsde

import (
	"path/filepath"
	"testing"

	"github.com/gosde/gosde/pkg/plotting"
)

// TestCompareMethodsSmall runs both methods for a few steps on the OU
// preset: each curve has the initial and the final evaluation, and
// training moves each method's held-out NLL (for the
// adjoint this checks that its weights, kept under adjoint.DynamicsScope,
// are the ones evaluated). The figures render.
func TestCompareMethodsSmall(t *testing.T) {
	cfg, err := ComparePreset("ou", 8, 100, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxSteps, cfg.Evals, cfg.Samples = 3, 1, 50
	res, err := CompareMethods(testBackend(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []Curve{res.Matching, res.Adjoint} {
		t.Logf("%s: steps %v, NLL %v, %.0f ms/step", c.Method, c.Steps, c.NLL, 1000*c.SecondsPerStep)
		if len(c.NLL) != 2 || c.Steps[1] != 3 || c.Seconds[1] <= 0 {
			t.Fatalf("%s: curve %+v, want 2 evaluations, the last after 3 steps", c.Method, c)
		}
		if c.NLL[1] == c.NLL[0] {
			t.Errorf("%s: held-out NLL %g unchanged by training: the trained weights are not the evaluated ones", c.Method, c.NLL[0])
		}
		if len(c.Moments) != len(cfg.HeldOut.Ts) || len(c.PriorSamples) != 50 {
			t.Errorf("%s: %d moment rows, %d prior samples", c.Method, len(c.Moments), len(c.PriorSamples))
		}
	}
	fit, prior, err := ComparisonFigures(res, cfg.HeldOut)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, f := range map[string]plotting.Figure{"fit.png": fit, "prior.png": prior} {
		if err := plotting.Save(f, filepath.Join(dir, name), 400, 300); err != nil {
			t.Fatal(err)
		}
	}
}

func TestComparePreset(t *testing.T) {
	cfg, err := ComparePreset("lorenz", 4, 10, 2)
	if err != nil {
		t.Fatal(err)
	}
	if d := cfg.Train.X.Shape().Dimensions; d[0] != 4 || d[1] != 50 || d[2] != 3 || cfg.HeldOut.X.Shape().Dimensions[0] != 4 {
		t.Errorf("lorenz preset: train %v, held out %v", d, cfg.HeldOut.X.Shape())
	}
	if a, b := cfg.Train.Rows()[0][0], cfg.HeldOut.Rows()[0][0]; a == b {
		t.Errorf("train and held-out sets start with the same value %g", a)
	}
	if _, err := ComparePreset("bogus", 4, 10, 1); err == nil {
		t.Error("unknown data set: want an error")
	}
	if _, err := ComparePreset("ou", 1, 10, 1); err == nil {
		t.Error("paths = 1: want an error")
	}
}

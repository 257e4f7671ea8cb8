package latentsde

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// simpson integrates f over [0, T] with composite Simpson's rule on n (even) intervals.
func simpson(f func(float64) float64, T float64, n int) float64 {
	h := T / float64(n)
	s := f(0) + f(T)
	for i := 1; i < n; i++ {
		w := 2.0
		if i%2 == 1 {
			w = 4
		}
		s += w * f(float64(i)*h)
	}
	return s * h / 3
}

func TestKLClosedFormMatchesQuadrature(t *testing.T) {
	pairs := []OUPair{
		ReferenceOUPair,
		{PriorTheta: 1, PriorMu: 0, PostTheta: 2, PostMu: -1, Sigma: 0.3, Z0: 0.7},
		{PriorTheta: 0, PriorMu: 0, PostTheta: 0.5, PostMu: 1, Sigma: 2, Z0: -1}, // prior: Brownian motion
	}
	for _, p := range pairs {
		for _, T := range []float64{0.1, 1, 3} {
			cf, err := p.KLClosedForm(T)
			if err != nil {
				t.Fatal(err)
			}
			q := simpson(p.KLRate, T, 20000)
			if math.Abs(cf-q) > 1e-9*math.Max(1, math.Abs(q)) {
				t.Errorf("%+v T=%g: closed form %.12g, Simpson %.12g", p, T, cf, q)
			}
		}
	}
	cf, _ := ReferenceOUPair.KLClosedForm(1)
	if math.Abs(cf-276.4) > 0.1 {
		t.Errorf("reference closed form = %g, want ≈ 276.4", cf)
	}
}

func TestKLClosedFormErrors(t *testing.T) {
	p := ReferenceOUPair
	p.Sigma = 0
	if _, err := p.KLClosedForm(1); err == nil {
		t.Error("Sigma = 0: want an error")
	}
	if _, err := ReferenceOUPair.KLClosedForm(math.NaN()); err == nil {
		t.Error("t1 = NaN: want an error")
	}
}

// TestOUKLReference reproduces the reference notebook's setting (30 paths,
// dt 1e-3): logqp ≈ KL, and the trapezoid without the ½ ≈ twice the KL.
func TestOUKLReference(t *testing.T) {
	r, err := OUKLCheck(testBackend(), OUKLConfig{Pair: ReferenceOUPair, Paths: 30, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", *r)
	if math.Abs(r.Logqp-r.ClosedForm) > 4*r.LogqpStderr+3 {
		t.Errorf("logqp %g ± %g far from closed form %g", r.Logqp, r.LogqpStderr, r.ClosedForm)
	}
	if math.Abs(r.TrapezoidNoHalf/2-r.Trapezoid) > 1e-9 || math.Abs(r.TrapezoidNoHalf/r.ClosedForm-2) > 0.1 {
		t.Errorf("trapezoid without ½ %g, want ≈ 2 × %g", r.TrapezoidNoHalf, r.ClosedForm)
	}
}

// TestOUKLConverges: at 10^4 paths the estimate is within 3 standard errors
// of the exact expectation of the Euler estimator on its grid, which differs
// from the closed form by Euler's bias (0.36 at dt = 1e-3, against a standard
// error of about 0.13); the bias is first order in dt.
func TestOUKLConverges(t *testing.T) {
	rows, err := OUKLConvergence(testBackend(), OUKLConfig{Pair: ReferenceOUPair, Seed: 7, DType: dtypes.Float32, Saves: 11}, []int{10000}, []float64{1e-3})
	if err != nil {
		t.Fatal(err)
	}
	r := rows[0]
	t.Logf("%+v", r)
	if z := (r.Logqp - r.EulerExpected) / r.LogqpStderr; math.Abs(z) > 3 {
		t.Errorf("logqp %g ± %g: %.2f standard errors from the Euler expectation %g", r.Logqp, r.LogqpStderr, z, r.EulerExpected)
	}
	if math.Abs(r.Logqp-r.ClosedForm) > 3*r.LogqpStderr+math.Abs(r.Bias) {
		t.Errorf("logqp %g ± %g: farther than 3 SE + |bias %g| from the closed form %g", r.Logqp, r.LogqpStderr, r.Bias, r.ClosedForm)
	}
	// Euler bias: positive and first order (halves when dt halves).
	ts := MustLinspace(0, 1, 11)
	cf, _ := ReferenceOUPair.KLClosedForm(1)
	prev := 0.0
	for i, dt := range []float64{1e-2, 5e-3, 2.5e-3, 1.25e-3} {
		e, err := ReferenceOUPair.EulerKL(ts, dt)
		if err != nil {
			t.Fatal(err)
		}
		bias := e - cf
		if i > 0 && math.Abs(prev/bias-2) > 0.15 {
			t.Errorf("dt %g: bias %g, previous %g: ratio %g, want ≈ 2", dt, bias, prev, prev/bias)
		}
		prev = bias
	}
}

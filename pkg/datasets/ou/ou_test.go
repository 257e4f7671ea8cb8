package ou

import (
	"fmt"
	"math"
	"testing"
)

// TestMoments: sample mean and variance of 20000 exact paths match the
// closed forms within 4 standard errors at every time, also for θ = 0.
func TestMoments(t *testing.T) {
	ts := []float64{0, 0.1, 0.35, 1, 2.5}
	for _, p := range []Process{
		{Theta: 2, Mu: 1, Sigma: 0.5, Z0Mean: -1, Z0Std: 0.2},
		{Theta: 0, Mu: 0, Sigma: 1, Z0Mean: 0.5, Z0Std: 0},
	} {
		const n = 20000
		paths, err := p.Simulate(ts, n, 3)
		if err != nil {
			t.Fatal(err)
		}
		for k, tk := range ts {
			var m, v float64
			for _, path := range paths {
				m += path[k]
			}
			m /= n
			for _, path := range paths {
				v += (path[k] - m) * (path[k] - m)
			}
			v /= n - 1
			wantM, wantV := p.Mean(tk), p.Variance(tk)
			if se := math.Sqrt(wantV / n); math.Abs(m-wantM) > 4*se+1e-12 {
				t.Errorf("%+v t=%g: mean %g, want %g ± %g", p, tk, m, wantM, se)
			}
			if se := wantV * math.Sqrt(2.0/n); math.Abs(v-wantV) > 4*se+1e-12 {
				t.Errorf("%+v t=%g: variance %g, want %g ± %g", p, tk, v, wantV, se)
			}
		}
	}
}

func TestSimulateErrors(t *testing.T) {
	p := Process{Theta: 1, Sigma: 1}
	if _, err := p.Simulate([]float64{0, 1, 1}, 2, 0); err == nil {
		t.Error("non-increasing ts: want an error")
	}
	if _, err := (Process{Theta: 1, Sigma: 0}).Simulate([]float64{0, 1}, 2, 0); err == nil {
		t.Error("Sigma = 0: want an error")
	}
	if _, err := p.Simulate([]float64{0, 1}, 0, 0); err == nil {
		t.Error("n = 0: want an error")
	}
}

func ExampleProcess_Variance() {
	p := Process{Theta: 2, Mu: 1, Sigma: 0.5}
	fmt.Printf("stationary variance σ²/(2θ) = %.4f\n", p.Variance(100))
	// Output: stationary variance σ²/(2θ) = 0.0625
}

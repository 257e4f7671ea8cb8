package basics

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/backends"

	"github.com/gosde/gosde/pkg/backend"
)

// seqBackend is the embedded backend with sequential op execution: GoMLX
// v0.26's parallel executor can deadlock on training graphs.
func seqBackend(t *testing.T) backends.Backend {
	b, err := backend.NewWithConfig("go:ops_sequential")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The exact solution of the linear system matches RK4 on its field.
func TestLinearSpiralExactMatchesRK4(t *testing.T) {
	s := LinearSpiral()
	ts := []float64{0, 0.5, 1.7, 4, 9.3}
	exact := s.Solve(s.Z0, ts, 1)
	s.Exact = nil
	num := s.Solve(s.Z0, ts, 2000)
	for i := range exact {
		if math.Abs(exact[i]-num[i]) > 1e-10 {
			t.Fatalf("value %d: exact %g, RK4 %g", i, exact[i], num[i])
		}
	}
}

// The nonlinear field at hand-computed points.
func TestNonlinearField(t *testing.T) {
	f := NonlinearSpiral().F
	// At x = x0 = (−1, 0): xᵀx0 = 1, A(x−x0) = 0, B(x+x0) = B(−2, 0) = (−0.4, 2).
	got := f([2]float64{-1, 0})
	s := 1 / (1 + math.E) // σ(−1)
	want := [2]float64{-0.4 * s, 2 * s}
	// At x = (0, 1): xᵀx0 = 0, σ = 1/2: ½A(1, 1) + ½B(−1, 1) = ½(−0.6, 0.4) + ½(0.8, 1.2).
	got2 := f([2]float64{0, 1})
	want2 := [2]float64{0.1, 0.8}
	for i := range 2 {
		if math.Abs(got[i]-want[i]) > 1e-15 || math.Abs(got2[i]-want2[i]) > 1e-15 {
			t.Fatalf("F(-1,0) = %v want %v; F(0,1) = %v want %v", got, want, got2, want2)
		}
	}
}

func TestSubSpan(t *testing.T) {
	d, err := LinearSpiral().Observe(200, 6.29*5, 0.01, 1)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	dt := d.Ts[1] - d.Ts[0]
	for range 200 {
		idx := d.SubSpan(rng, 1, 5, 32)
		if len(idx) < 2 || len(idx) > 32 {
			t.Fatalf("%d points", len(idx))
		}
		for k := 1; k < len(idx); k++ {
			if idx[k] <= idx[k-1] {
				t.Fatalf("not sorted: %v", idx)
			}
		}
		if span := d.Ts[idx[len(idx)-1]] - d.Ts[idx[0]]; span > 5 || span < 1-2*dt {
			t.Fatalf("span %g outside [1, 5]", span)
		}
	}
	if _, err := LinearSpiral().Observe(1, 1, 0, 1); err == nil {
		t.Fatal("n=1 accepted")
	}
}

// A short run recovers the linear spiral's matrix.
func TestLinearModelRecoversA(t *testing.T) {
	res, err := Run(seqBackend(t), Config{System: LinearSpiral(), Steps: 500, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range res.A {
		if math.Abs(v-TrueA[i]) > 0.15 {
			t.Fatalf("learned A = %v, want within 0.15 of %v", res.A, TrueA)
		}
	}
	if res.TrajRMSE > 0.1 {
		t.Fatalf("trajectory rmse %g > 0.1", res.TrajRMSE)
	}
	first, last := mean(res.Losses[:20]), mean(res.Losses[len(res.Losses)-50:])
	if last > first/20 {
		t.Fatalf("loss fell only from %g to %g", first, last)
	}
	t.Logf("A = %.3f, rmse %.4f, %v", res.A, res.TrajRMSE, res.Duration)
}

func TestConfigErrors(t *testing.T) {
	b := seqBackend(t)
	for _, cfg := range []Config{{LR: -1}, {Model: "cnn"}, {MinSpan: 3, MaxSpan: 2}, {Hidden: []int{0}}} {
		if _, err := NewLearner(b, cfg); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

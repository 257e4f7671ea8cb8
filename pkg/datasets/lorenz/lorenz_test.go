package lorenz

import (
	"math"
	"strings"
	"testing"

	"github.com/gosde/gosde/internal/stats"
)

// TestNoiselessLimitIsRK4: with b = 0 the generator's raw paths are an RK4
// solve; they agree with an independent RK4 solve at a quarter of the step
// (the difference is RK4's own error, O(h⁴)), and the system is chaotic
// enough that a wrong drift would not.
func TestNoiselessLimitIsRK4(t *testing.T) {
	p := Default()
	p.B = [3]float64{}
	x0 := [3]float64{1, -0.5, 0.3}
	ds, err := Generate(Config{Params: p, N: 1, Obs: 11, Dt: 1e-3, Raw: true, NoiseStd: -1, X0: &x0})
	if err != nil {
		t.Fatal(err)
	}
	// Reference: RK4 with h = 2.5e-4, written out here.
	f := func(x [3]float64) [3]float64 {
		return [3]float64{10 * (x[1] - x[0]), 28*x[0] - x[1] - x[0]*x[2], x[0]*x[1] - 8.0/3*x[2]}
	}
	x := x0
	const h = 2.5e-4
	var maxErr, maxAbs float64
	for k := range ds.Ts {
		if k > 0 {
			for range 400 { // 0.1 / 2.5e-4
				var k1, k2, k3, k4, y [3]float64
				k1 = f(x)
				for j := range 3 {
					y[j] = x[j] + h/2*k1[j]
				}
				k2 = f(y)
				for j := range 3 {
					y[j] = x[j] + h/2*k2[j]
				}
				k3 = f(y)
				for j := range 3 {
					y[j] = x[j] + h*k3[j]
				}
				k4 = f(y)
				for j := range 3 {
					x[j] += h / 6 * (k1[j] + 2*k2[j] + 2*k3[j] + k4[j])
				}
			}
		}
		for j := range 3 {
			got := ds.Raw[k*3+j]
			maxErr = math.Max(maxErr, math.Abs(got-x[j]))
			maxAbs = math.Max(maxAbs, math.Abs(x[j]))
			if ds.X[k*3+j] != got {
				t.Fatalf("NoiseStd < 0: X differs from Raw at (%d, %d)", k, j)
			}
		}
	}
	t.Logf("max |generator − RK4(h/4)| = %.3g over |x| ≤ %.3g", maxErr, maxAbs)
	if maxErr > 1e-6 {
		t.Errorf("noiseless paths differ from RK4 by %g", maxErr)
	}
	if maxAbs < 5 {
		t.Errorf("the path stays within |x| < %g: the check is weak", maxAbs)
	}
}

// TestNoiseVariance checks the noise increments against closed forms on
// x1, whose drift a1(x2 − x1) vanishes with a = 0 (x2 and x3 keep drift
// terms that a does not scale), over N paths from a fixed start:
//   - additive, g1 = b: x1(T) − x1(0) = b·W(T), variance b²T;
//   - multiplicative, g1 = b·x1: x1(T)/x1(0) = Π_k (1 + b ΔW_k), mean 1 and
//     variance (1 + b²h)^n − 1 exactly for n steps of size h.
func TestNoiseVariance(t *testing.T) {
	const n = 20000
	x0 := [3]float64{1.5, 2, -1.5}
	for _, additive := range []bool{true, false} {
		for _, b := range []float64{0.15, 0.5} {
			p := Params{B: [3]float64{b, 0.1, 0.1}, Additive: additive}
			ds, err := Generate(Config{Params: p, N: n, Obs: 2, T1: 0.8, Dt: 0.01, Raw: true, NoiseStd: -1, X0: &x0, Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			vals := make([]float64, n)
			for i := range n {
				end := ds.Raw[(i*2+1)*3]
				if additive {
					vals[i] = end - x0[0]
				} else {
					vals[i] = end / x0[0]
				}
			}
			mean, variance := stats.MeanVar(vals)
			wantMean, wantVar := 0.0, b*b*0.8
			if !additive {
				wantMean, wantVar = 1, math.Pow(1+b*b*0.01, 80)-1
			}
			seMean, seVar := math.Sqrt(wantVar/n), wantVar*math.Sqrt(2.0/(n-1))
			t.Logf("additive=%v b=%g: mean %.5f (want %.5f ± %.5f), var %.5f (want %.5f ± %.5f)", additive, b, mean, wantMean, seMean, variance, wantVar, seVar)
			if math.Abs(mean-wantMean) > 3*seMean || math.Abs(variance-wantVar) > 3*seVar {
				t.Errorf("additive=%v b=%g: mean %g, var %g; want %g, %g", additive, b, mean, variance, wantMean, wantVar)
			}
		}
	}
}

// TestDefaultDataset: the default data set (torchsde's shapes) is
// normalised to mean 0 and std 1 per coordinate, its observation noise has
// std 0.01, the raw paths reach the attractor's scale, and a seed fixes it.
func TestDefaultDataset(t *testing.T) {
	ds, err := Generate(Config{Params: Default(), Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if ds.N != 128 || len(ds.Ts) != 50 || ds.Ts[49] != 1 || len(ds.X) != 128*50*3 {
		t.Fatalf("shape: N %d, %d times ending at %g, %d values", ds.N, len(ds.Ts), ds.Ts[len(ds.Ts)-1], len(ds.X))
	}
	var noise []float64
	for j := range 3 {
		var col []float64
		for i := j; i < len(ds.Clean); i += 3 {
			col = append(col, ds.Clean[i])
			noise = append(noise, ds.X[i]-ds.Clean[i])
			if got := ds.Raw[i]; math.Abs((got-ds.Mean[j])/ds.Std[j]-ds.Clean[i]) > 1e-12 {
				t.Fatalf("Clean[%d] is not (Raw − Mean)/Std", i)
			}
		}
		m, v := stats.MeanVar(col)
		if math.Abs(m) > 1e-12 || math.Abs(v-1) > 1e-12 {
			t.Errorf("x%d normalised: mean %g, var %g; want 0, 1", j+1, m, v)
		}
		if ds.Std[j] < 3 {
			t.Errorf("x%d raw std %g: the paths did not reach the attractor's scale", j+1, ds.Std[j])
		}
	}
	m, v := stats.MeanVar(noise)
	se := 0.01 * 0.01 * math.Sqrt(2/float64(len(noise)-1))
	if math.Abs(m) > 3*0.01/math.Sqrt(float64(len(noise))) || math.Abs(v-1e-4) > 3*se {
		t.Errorf("observation noise mean %g, var %g; want 0, 1e-4 ± %g", m, v, se)
	}
	again, _ := Generate(Config{Params: Default(), Seed: 1})
	other, _ := Generate(Config{Params: Default(), Seed: 2})
	for i := range ds.X {
		if again.X[i] != ds.X[i] {
			t.Fatalf("same seed, different value at %d", i)
		}
	}
	if other.X[100] == ds.X[100] {
		t.Error("different seeds gave the same value")
	}
	train, held := ds.Split(100)
	if len(train) != 100*50*3 || len(held) != 28*50*3 {
		t.Errorf("Split(100): %d and %d values", len(train), len(held))
	}
}

func TestConfigErrors(t *testing.T) {
	bad := []Config{{Obs: 1}, {N: -1}, {Dt: math.NaN()}, {T1: -1}, {NoiseStd: math.Inf(1)}, {Params: Params{B: [3]float64{-1, 0, 0}}}}
	for _, c := range bad {
		if _, err := Generate(c); err == nil {
			t.Errorf("%+v: want an error", c)
		}
	}
}

// TestTinyDtRefused checks that a Dt so small that the step count between
// observations would overflow is an error naming Dt (the loop used to run
// zero steps and return the initial states).
func TestTinyDtRefused(t *testing.T) {
	_, err := Generate(Config{N: 1, Dt: 1e-300})
	if err == nil || !strings.Contains(err.Error(), "Dt=1e-300") {
		t.Errorf("Dt 1e-300: error %v, want one naming Dt", err)
	}
}

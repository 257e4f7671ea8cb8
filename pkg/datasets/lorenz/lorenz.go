// Package lorenz generates the stochastic Lorenz attractor data set of
// torchsde's latent SDE example (examples/latent_sde_lorenz.py, after Li et
// al. 2020, Section 7.2):
//
//	dx1 = a1(x2 − x1) dt + g1 dW1
//	dx2 = (a2 x1 − x2 − x1 x3) dt + g2 dW2
//	dx3 = (x1 x2 − a3 x3) dt + g3 dW3     (Itô, diagonal noise)
//
// with a = (10, 28, 8/3), x(0) ~ N(0, I₃), 50 observation times in [0, 1],
// each coordinate normalised by its mean and standard deviation over all
// paths and times, plus N(0, 0.01²) observation noise. torchsde's diffusion
// is multiplicative, g_i = b_i·x_i; Default uses b_i = 0.15 (the value of
// issue 19 and of SDE Matching's Lorenz experiment; torchsde's own file
// has b = (0.1, 0.28, 0.3)); Params.Additive switches to g_i = b_i.
//
// Paths are simulated in Go, reproducibly from a seed, with steps of at
// most Config.Dt: the drift advanced by a classical Runge–Kutta (RK4) step
// and the noise added as in Euler–Maruyama, x' = x + Φ_RK4(x, h) + g(x)·ΔW,
// so the noiseless limit is exactly an RK4 solve.
package lorenz

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
)

// Params are the SDE's coefficients.
type Params struct {
	A [3]float64 // drift coefficients a1, a2, a3
	B [3]float64 // noise coefficients b_i ≥ 0
	// Additive makes the diffusion g_i = b_i instead of b_i·x_i.
	Additive bool
}

// Default returns a = (10, 28, 8/3), multiplicative noise with b = 0.15.
func Default() Params {
	return Params{A: [3]float64{10, 28, 8.0 / 3}, B: [3]float64{0.15, 0.15, 0.15}}
}

// Drift returns f(x).
func (p Params) Drift(x [3]float64) [3]float64 {
	return [3]float64{
		p.A[0] * (x[1] - x[0]),
		p.A[1]*x[0] - x[1] - x[0]*x[2],
		x[0]*x[1] - p.A[2]*x[2],
	}
}

// Diffusion returns the diagonal of g(x).
func (p Params) Diffusion(x [3]float64) [3]float64 {
	if p.Additive {
		return p.B
	}
	return [3]float64{p.B[0] * x[0], p.B[1] * x[1], p.B[2] * x[2]}
}

// RK4Step returns x advanced by one classical Runge–Kutta step of size h
// of the noiseless system dx = f(x) dt.
func (p Params) RK4Step(x [3]float64, h float64) [3]float64 {
	add := func(a, b [3]float64, s float64) [3]float64 {
		return [3]float64{a[0] + s*b[0], a[1] + s*b[1], a[2] + s*b[2]}
	}
	k1 := p.Drift(x)
	k2 := p.Drift(add(x, k1, h/2))
	k3 := p.Drift(add(x, k2, h/2))
	k4 := p.Drift(add(x, k3, h))
	var out [3]float64
	for i := range out {
		out[i] = x[i] + h/6*(k1[i]+2*k2[i]+2*k3[i]+k4[i])
	}
	return out
}

// Config describes a data set. Zero fields take the documented defaults,
// except Params (the zero Params is a valid, driftless and noiseless
// system): set it to Default() or your own.
type Config struct {
	Params Params
	N      int     // paths (default 128, torchsde's batch)
	Obs    int     // observation times linspace(0, T1, Obs) (default 50)
	T1     float64 // end time (default 1)
	Dt     float64 // largest simulation step (default 1e-3)
	// NoiseStd is the std of the observation noise added after
	// normalisation (default 0.01; negative: none).
	NoiseStd float64
	// Raw skips the normalisation (and then adds the noise to raw values).
	Raw  bool
	Seed uint64
	// X0 is the initial state of every path; nil: x(0) ~ N(0, I₃).
	X0 *[3]float64
}

func (c Config) withDefaults() Config {
	c.N = cmp.Or(c.N, 128)
	c.Obs = cmp.Or(c.Obs, 50)
	c.T1 = cmp.Or(c.T1, 1)
	c.Dt = cmp.Or(c.Dt, 1e-3)
	c.NoiseStd = cmp.Or(c.NoiseStd, 0.01)
	if c.NoiseStd < 0 {
		c.NoiseStd = 0
	}
	return c
}

// Validate checks the configuration, naming the field at fault.
// maxSteps bounds the simulation steps between two observation times, so
// that a tiny Dt is refused instead of overflowing the step count.
const maxSteps = 1 << 30

func (c Config) Validate() error {
	if c.N < 0 || c.Obs < 0 || c.Obs == 1 {
		return fmt.Errorf("lorenz.Config: N must be ≥ 0 and Obs ≥ 2 (0: default), got %d and %d", c.N, c.Obs)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"T1", c.T1}, {"Dt", c.Dt}} {
		if f.v < 0 || math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return fmt.Errorf("lorenz.Config.%s must be finite and ≥ 0 (0: default), got %g", f.name, f.v)
		}
	}
	if math.IsNaN(c.NoiseStd) || math.IsInf(c.NoiseStd, 0) {
		return fmt.Errorf("lorenz.Config.NoiseStd must be finite, got %g", c.NoiseStd)
	}
	for i := range 3 {
		if a := c.Params.A[i]; math.IsNaN(a) || math.IsInf(a, 0) {
			return fmt.Errorf("lorenz.Config.Params.A[%d] must be finite, got %g", i, a)
		}
		if b := c.Params.B[i]; !(b >= 0) || math.IsInf(b, 0) {
			return fmt.Errorf("lorenz.Config.Params.B[%d] must be finite and ≥ 0, got %g", i, b)
		}
	}
	if c.X0 != nil {
		for i, v := range c.X0 {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("lorenz.Config.X0[%d] must be finite, got %g", i, v)
			}
		}
	}
	return nil
}

// Dataset holds the generated paths, flat and time-major per path: entry
// (i, k, j) of an (N, len(Ts), 3) array is at index (i·len(Ts) + k)·3 + j.
type Dataset struct {
	Ts []float64
	N  int
	// Raw are the simulated states before normalisation.
	Raw []float64
	// Clean are the normalised states, (Raw − Mean)/Std (Raw when
	// Config.Raw).
	Clean []float64
	// X are the observations: Clean plus observation noise.
	X []float64
	// Mean and Std are the normalisation constants per coordinate (over
	// every path and time; Std with the n − 1 denominator); 0 and 1 when
	// Config.Raw.
	Mean, Std [3]float64
}

// Generate simulates cfg.N paths of the stochastic Lorenz system at
// linspace(0, T1, Obs), normalises and adds observation noise. The same
// Config (Seed included) gives the same data.
func Generate(cfg Config) (*Dataset, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	ts := make([]float64, c.Obs)
	for k := range ts {
		ts[k] = c.T1 * float64(k) / float64(c.Obs-1)
	}
	if n := (ts[1] - ts[0]) / c.Dt; !(n <= maxSteps) {
		return nil, fmt.Errorf("lorenz.Generate: Dt=%g makes %.3g steps between observations, more than %d: use a larger Dt", c.Dt, n, maxSteps)
	}
	r := rand.New(rand.NewPCG(c.Seed, 0x6c6f72656e7a))
	nt := len(ts)
	raw := make([]float64, c.N*nt*3)
	for i := range c.N {
		var x [3]float64
		if c.X0 != nil {
			x = *c.X0
		} else {
			x = [3]float64{r.NormFloat64(), r.NormFloat64(), r.NormFloat64()}
		}
		copy(raw[i*nt*3:], x[:])
		for k := 1; k < nt; k++ {
			span := ts[k] - ts[k-1]
			steps := int(math.Ceil(span/c.Dt - 1e-9))
			h := span / float64(steps)
			sq := math.Sqrt(h)
			for range steps {
				g := c.Params.Diffusion(x)
				next := c.Params.RK4Step(x, h)
				for j := range 3 {
					next[j] += g[j] * sq * r.NormFloat64()
				}
				x = next
			}
			for j := range 3 {
				if math.IsNaN(x[j]) || math.IsInf(x[j], 0) {
					return nil, fmt.Errorf("lorenz.Generate: path %d diverged at t = %g (x%d = %g); reduce Dt", i, ts[k], j+1, x[j])
				}
			}
			copy(raw[(i*nt+k)*3:], x[:])
		}
	}
	ds := &Dataset{Ts: ts, N: c.N, Raw: raw, Std: [3]float64{1, 1, 1}}
	ds.Clean = append([]float64(nil), raw...)
	if !c.Raw && c.N*nt > 1 {
		for j := range 3 {
			var s, ss float64
			for i := j; i < len(raw); i += 3 {
				s += raw[i]
			}
			mean := s / float64(c.N*nt)
			for i := j; i < len(raw); i += 3 {
				ss += (raw[i] - mean) * (raw[i] - mean)
			}
			std := math.Sqrt(ss / float64(c.N*nt-1))
			if std == 0 {
				std = 1
			}
			ds.Mean[j], ds.Std[j] = mean, std
			for i := j; i < len(raw); i += 3 {
				ds.Clean[i] = (raw[i] - mean) / std
			}
		}
	}
	ds.X = make([]float64, len(raw))
	for i, v := range ds.Clean {
		ds.X[i] = v + c.NoiseStd*r.NormFloat64()
	}
	return ds, nil
}

// Split returns the first k paths' observations and the rest, each flat
// (paths, len(Ts), 3), for a training and a held-out set.
func (d *Dataset) Split(k int) (first, rest []float64) {
	k = max(0, min(k, d.N))
	w := len(d.Ts) * 3
	return d.X[:k*w], d.X[k*w:]
}

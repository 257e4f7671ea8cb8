package basics

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/gosde/gosde/pkg/datasets/spirals"
)

// System is a 2-D autonomous ODE dx/dt = F(x) observed along one trajectory.
type System struct {
	// Name identifies the system ("linear" or "nonlinear").
	Name string
	// F is the vector field.
	F func(x [2]float64) [2]float64
	// Exact, if not nil, is the exact solution at time t from x0 (used
	// instead of numerical integration to make the data).
	Exact func(x0 [2]float64, t float64) [2]float64
	// Z0 is the initial state of the observed trajectory.
	Z0 [2]float64
}

// TrueA is the matrix of the linear spiral: eigenvalues −0.1 ± i.
var TrueA = [4]float64{-0.1, -1, 1, -0.1}

// LinearSpiral returns dz/dt = A z with A = [[-0.1, -1], [1, -0.1]] (an
// inward spiral) from z0 = (0.6, 0.3); its exact solution is expm(A t) z0.
func LinearSpiral() System {
	a := TrueA
	return System{
		Name: "linear",
		F:    func(x [2]float64) [2]float64 { return [2]float64{a[0]*x[0] + a[1]*x[1], a[2]*x[0] + a[3]*x[1]} },
		Exact: func(x0 [2]float64, t float64) [2]float64 {
			e := spirals.Expm2(a, t)
			return [2]float64{e[0]*x0[0] + e[1]*x0[1], e[2]*x0[0] + e[3]*x0[1]}
		},
		Z0: [2]float64{0.6, 0.3},
	}
}

// NonlinearSpiral returns the field
//
//	F(x) = σ(xᵀx₀)·A(x − x₀) + σ(−xᵀx₀)·B(x + x₀)
//
// with σ the logistic function, A = [[-0.1, -0.5], [0.5, -0.1]],
// B = [[0.2, 1], [-1, 0.2]] and x₀ = (−1, 0), started at z0 = (0.6, 0.3).
func NonlinearSpiral() System {
	a := [4]float64{-0.1, -0.5, 0.5, -0.1}
	b := [4]float64{0.2, 1, -1, 0.2}
	c := [2]float64{-1, 0}
	sig := func(u float64) float64 { return 1 / (1 + math.Exp(-u)) }
	return System{
		Name: "nonlinear",
		F: func(x [2]float64) [2]float64 {
			dot := x[0]*c[0] + x[1]*c[1]
			s1, s2 := sig(dot), sig(-dot)
			u := [2]float64{x[0] - c[0], x[1] - c[1]}
			v := [2]float64{x[0] + c[0], x[1] + c[1]}
			return [2]float64{
				s1*(a[0]*u[0]+a[1]*u[1]) + s2*(b[0]*v[0]+b[1]*v[1]),
				s1*(a[2]*u[0]+a[3]*u[1]) + s2*(b[2]*v[0]+b[3]*v[1]),
			}
		},
		Z0: [2]float64{0.6, 0.3},
	}
}

// SystemByName returns LinearSpiral ("linear") or NonlinearSpiral ("nonlinear").
func SystemByName(name string) (System, error) {
	switch name {
	case "linear":
		return LinearSpiral(), nil
	case "nonlinear":
		return NonlinearSpiral(), nil
	}
	return System{}, fmt.Errorf("basics: unknown system %q (want linear or nonlinear)", name)
}

// Solve returns the trajectory of s from x0 at the times ts (flat x, y
// pairs): exactly when s.Exact is set, otherwise by RK4 with substeps equal
// steps per interval (use ≥ 50 for reference data).
func (s System) Solve(x0 [2]float64, ts []float64, substeps int) []float64 {
	out := make([]float64, 0, 2*len(ts))
	if s.Exact != nil {
		for _, t := range ts {
			x := s.Exact(x0, t-ts[0])
			out = append(out, x[0], x[1])
		}
		return out
	}
	substeps = max(substeps, 1)
	add := func(x, k [2]float64, h float64) [2]float64 { return [2]float64{x[0] + h*k[0], x[1] + h*k[1]} }
	x := x0
	out = append(out, x[0], x[1])
	for j := 1; j < len(ts); j++ {
		h := (ts[j] - ts[j-1]) / float64(substeps)
		for range substeps {
			k1 := s.F(x)
			k2 := s.F(add(x, k1, h/2))
			k3 := s.F(add(x, k2, h/2))
			k4 := s.F(add(x, k3, h))
			x = [2]float64{x[0] + h/6*(k1[0]+2*k2[0]+2*k3[0]+k4[0]), x[1] + h/6*(k1[1]+2*k2[1]+2*k3[1]+k4[1])}
		}
		out = append(out, x[0], x[1])
	}
	return out
}

// Data is one observed trajectory.
type Data struct {
	Ts    []float64 // observation times
	Clean []float64 // noise-free states at Ts, flat (x, y pairs)
	Obs   []float64 // Clean plus Gaussian noise
}

// Observe returns s's trajectory from s.Z0 at n equally spaced times on
// [0, tMax] with noise of standard deviation noiseStd, seeded by seed.
func (s System) Observe(n int, tMax, noiseStd float64, seed uint64) (*Data, error) {
	if n < 2 {
		return nil, fmt.Errorf("basics.Observe: n must be ≥ 2, got %d", n)
	}
	if !(tMax > 0) || math.IsInf(tMax, 0) {
		return nil, fmt.Errorf("basics.Observe: tMax must be finite and > 0, got %g", tMax)
	}
	if !(noiseStd >= 0) || math.IsInf(noiseStd, 0) {
		return nil, fmt.Errorf("basics.Observe: noiseStd must be finite and ≥ 0, got %g", noiseStd)
	}
	d := &Data{Ts: make([]float64, n)}
	for j := range d.Ts {
		d.Ts[j] = tMax * float64(j) / float64(n-1)
	}
	d.Clean = s.Solve(s.Z0, d.Ts, 100)
	rng := rand.New(rand.NewPCG(seed, 0xba51c5))
	d.Obs = make([]float64, len(d.Clean))
	for i, v := range d.Clean {
		d.Obs[i] = v + noiseStd*rng.NormFloat64()
	}
	return d, nil
}

// SubSpan draws a training window as the reference does: a start time t0
// uniform on [0, T − maxLen], an end t0 + U(minLen, maxLen), and up to
// maxPoints of the observations strictly inside (t0, t1), chosen at random
// and sorted. It returns their indices (at least 2; the window is redrawn
// when it holds fewer).
func (d *Data) SubSpan(rng *rand.Rand, minLen, maxLen float64, maxPoints int) []int {
	tMax := d.Ts[len(d.Ts)-1]
	for {
		t0 := rng.Float64() * math.Max(tMax-maxLen, 0)
		t1 := t0 + minLen + rng.Float64()*(maxLen-minLen)
		var in []int
		for j, t := range d.Ts {
			if t > t0 && t < t1 {
				in = append(in, j)
			}
		}
		if len(in) < 2 {
			continue
		}
		if len(in) > maxPoints {
			rng.Shuffle(len(in), func(a, b int) { in[a], in[b] = in[b], in[a] })
			in = in[:maxPoints]
			slices.Sort(in)
		}
		return in
	}
}

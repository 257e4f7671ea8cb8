// Package ou simulates Ornstein–Uhlenbeck paths exactly:
//
//	dz = θ(μ − z) dt + σ dW,   z(t0) ~ N(m0, s0²)
//
// The transition over a step Δ is Gaussian: z(t+Δ) = μ + (z(t) − μ)e^{−θΔ} +
// σ√((1 − e^{−2θΔ})/(2θ))·ε (σ√Δ·ε when θ = 0), so paths have no
// discretisation error at any observation times. Mean and Variance give the
// exact moments over time.
package ou

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Process is an OU process with a Gaussian initial state.
type Process struct {
	Theta, Mu, Sigma float64 // θ ≥ 0, μ, σ > 0
	Z0Mean, Z0Std    float64 // z(t0) ~ N(Z0Mean, Z0Std²); Z0Std ≥ 0
}

// Validate checks the parameters.
func (p Process) Validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"Theta", p.Theta}, {"Mu", p.Mu}, {"Sigma", p.Sigma}, {"Z0Mean", p.Z0Mean}, {"Z0Std", p.Z0Std}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return fmt.Errorf("ou.Process.%s must be finite, got %g", f.name, f.v)
		}
	}
	if p.Theta < 0 || !(p.Sigma > 0) || p.Z0Std < 0 {
		return fmt.Errorf("ou.Process: want Theta ≥ 0, Sigma > 0, Z0Std ≥ 0, got %g, %g, %g", p.Theta, p.Sigma, p.Z0Std)
	}
	return nil
}

// decay returns e^{−θΔ} and the transition's variance over Δ.
func (p Process) decay(dt float64) (a, v float64) {
	if p.Theta == 0 {
		return 1, p.Sigma * p.Sigma * dt
	}
	return math.Exp(-p.Theta * dt), p.Sigma * p.Sigma * -math.Expm1(-2*p.Theta*dt) / (2 * p.Theta)
}

// Mean returns E z(t0 + dt) = μ + (m0 − μ)e^{−θ·dt}.
func (p Process) Mean(dt float64) float64 {
	a, _ := p.decay(dt)
	return p.Mu + (p.Z0Mean-p.Mu)*a
}

// Variance returns Var z(t0 + dt) = s0²e^{−2θ·dt} + σ²(1 − e^{−2θ·dt})/(2θ).
func (p Process) Variance(dt float64) float64 {
	a, v := p.decay(dt)
	return p.Z0Std*p.Z0Std*a*a + v
}

// Simulate returns n paths observed at the strictly increasing times ts
// (ts[0] is t0): paths[i][k] = z_i(ts[k]). The same seed gives the same
// paths.
func (p Process) Simulate(ts []float64, n int, seed uint64) ([][]float64, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if n < 1 {
		return nil, fmt.Errorf("ou.Simulate: n must be ≥ 1, got %d", n)
	}
	if len(ts) < 1 {
		return nil, fmt.Errorf("ou.Simulate: ts is empty")
	}
	for k, t := range ts {
		if math.IsNaN(t) || math.IsInf(t, 0) || (k > 0 && !(t > ts[k-1])) {
			return nil, fmt.Errorf("ou.Simulate: ts must be finite and strictly increasing (ts[%d] = %g)", k, t)
		}
	}
	r := rand.New(rand.NewPCG(seed, 0x6f75))
	paths := make([][]float64, n)
	for i := range paths {
		z := p.Z0Mean + p.Z0Std*r.NormFloat64()
		path := make([]float64, len(ts))
		path[0] = z
		for k := 1; k < len(ts); k++ {
			a, v := p.decay(ts[k] - ts[k-1])
			z = p.Mu + (z-p.Mu)*a + math.Sqrt(v)*r.NormFloat64()
			path[k] = z
		}
		paths[i] = path
	}
	return paths, nil
}

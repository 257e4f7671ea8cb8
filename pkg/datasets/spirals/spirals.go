package spirals

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
)

// Config configures Generate. Zero fields take the defaults of [DefaultConfig].
type Config struct {
	// N is the number of spirals (default 1000); the first N/2 turn
	// clockwise, the rest counter-clockwise.
	N int
	// Points is the number of observation times per spiral (default 200).
	Points int
	// TMax is the last time; times are Points equally spaced values on
	// [0, TMax] (default 6.29·5).
	TMax float64
	// NoiseStd is the standard deviation of the observation noise
	// (default 0.02). Use a negative value for noise-free observations.
	NoiseStd float64
	// Seed seeds the generator (PCG); the same Config gives the same data.
	Seed uint64
}

// DefaultConfig returns the reference setting: 1000 spirals, 200 points on
// [0, 6.29·5], noise std 0.02.
func DefaultConfig() Config {
	return Config{N: 1000, Points: 200, TMax: 6.29 * 5, NoiseStd: 0.02}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	c.N = cmp.Or(c.N, d.N)
	c.Points = cmp.Or(c.Points, d.Points)
	c.TMax = cmp.Or(c.TMax, d.TMax)
	c.NoiseStd = cmp.Or(c.NoiseStd, d.NoiseStd)
	if c.NoiseStd < 0 {
		c.NoiseStd = 0
	}
	return c
}

// Validate reports invalid settings, naming the field.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.N < 1:
		return fmt.Errorf("spirals: Config.N must be ≥ 1, got %d", c.N)
	case c.Points < 2:
		return fmt.Errorf("spirals: Config.Points must be ≥ 2, got %d", c.Points)
	case math.IsNaN(c.TMax) || math.IsInf(c.TMax, 0) || c.TMax <= 0:
		return fmt.Errorf("spirals: Config.TMax must be finite and > 0, got %g", c.TMax)
	case math.IsNaN(c.NoiseStd) || math.IsInf(c.NoiseStd, 0):
		return fmt.Errorf("spirals: Config.NoiseStd must be finite, got %g", c.NoiseStd)
	}
	return nil
}

// Dataset holds generated spirals. Trajectories are stored flat: the state of
// spiral i at time index j is (X[i][2j], X[i][2j+1]).
type Dataset struct {
	Config Config
	// Ts are the observation times, shared by all spirals.
	Ts []float64
	// W[i] is spiral i's dynamics matrix, row-major (W11, W12, W21, W22).
	W [][4]float64
	// X0[i] is spiral i's initial state.
	X0 [][2]float64
	// Clockwise[i] reports the direction of rotation of spiral i.
	Clockwise []bool
	// Clean[i] is the noise-free trajectory expm(W t)·x0 at Ts, flat.
	Clean [][]float64
	// Obs[i] is Clean[i] plus observation noise, flat.
	Obs [][]float64
}

// Generate draws the spirals of cfg.
func Generate(cfg Config) (*Dataset, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed5b1a1))
	d := &Dataset{Config: cfg, Ts: make([]float64, cfg.Points)}
	for j := range d.Ts {
		d.Ts[j] = cfg.TMax * float64(j) / float64(cfg.Points-1)
	}
	for i := 0; i < cfg.N; i++ {
		cw := i < cfg.N/2
		w := [4]float64{
			-0.1*math.Abs(rng.NormFloat64()) - 0.05,
			math.Abs(rng.NormFloat64()),
			-math.Abs(rng.NormFloat64()),
			-0.1*math.Abs(rng.NormFloat64()) - 0.05,
		}
		if !cw {
			w[1], w[2] = -w[1], -w[2]
		}
		x0 := [2]float64{2 * rng.NormFloat64(), 2 * rng.NormFloat64()}
		clean := Trajectory(w, x0, d.Ts)
		obs := make([]float64, len(clean))
		for k, v := range clean {
			obs[k] = v + cfg.NoiseStd*rng.NormFloat64()
		}
		d.W = append(d.W, w)
		d.X0 = append(d.X0, x0)
		d.Clockwise = append(d.Clockwise, cw)
		d.Clean = append(d.Clean, clean)
		d.Obs = append(d.Obs, obs)
	}
	return d, nil
}

// Len returns the number of spirals.
func (d *Dataset) Len() int { return len(d.Obs) }

// Trajectory returns expm(W t)·x0 at each t of ts, flat (x, y pairs).
func Trajectory(w [4]float64, x0 [2]float64, ts []float64) []float64 {
	out := make([]float64, 2*len(ts))
	for j, t := range ts {
		e := Expm2(w, t)
		out[2*j] = e[0]*x0[0] + e[1]*x0[1]
		out[2*j+1] = e[2]*x0[0] + e[3]*x0[1]
	}
	return out
}

// Expm2 returns the matrix exponential expm(W t) of a 2×2 matrix W
// (row-major) in closed form. With m = tr(W)/2 and M = W − m·I, M² = δ·I where
// δ = ((W11 − W22)/2)² + W12·W21, so
//
//	expm(W t) = e^{m t} (c(t)·I + s(t)·M)
//
// with c = cos(ωt), s = sin(ωt)/ω for δ = −ω² < 0 (rotation: spirals),
// c = cosh(ωt), s = sinh(ωt)/ω for δ = ω² > 0, and c = 1, s = t for δ = 0.
func Expm2(w [4]float64, t float64) [4]float64 {
	m := 0.5 * (w[0] + w[3])
	a := 0.5 * (w[0] - w[3])
	delta := a*a + w[1]*w[2]
	var c, s float64
	switch {
	case delta < 0:
		om := math.Sqrt(-delta)
		c, s = math.Cos(om*t), math.Sin(om*t)/om
	case delta > 0:
		om := math.Sqrt(delta)
		c, s = math.Cosh(om*t), math.Sinh(om*t)/om
	default:
		c, s = 1, t
	}
	e := math.Exp(m * t)
	return [4]float64{e * (c + s*a), e * s * w[1], e * s * w[2], e * (c - s*a)}
}

// Split returns two datasets sharing the time grid: a held-out set of the
// spirals whose index i is a multiple of k = round(1/heldOutFrac) and a
// training set of the others; both hold clockwise and counter-clockwise
// spirals.
func (d *Dataset) Split(heldOutFrac float64) (train, heldOut *Dataset, err error) {
	if !(heldOutFrac > 0 && heldOutFrac < 1) {
		return nil, nil, fmt.Errorf("spirals.Split: heldOutFrac must be in (0, 1), got %g", heldOutFrac)
	}
	k := int(math.Round(1 / heldOutFrac))
	if k < 2 {
		k = 2
	}
	var tr, ho []int
	for i := range d.Obs {
		if i%k == 0 {
			ho = append(ho, i)
		} else {
			tr = append(tr, i)
		}
	}
	if len(tr) == 0 || len(ho) == 0 {
		return nil, nil, fmt.Errorf("spirals.Split: %d spirals are too few to split with heldOutFrac %g", d.Len(), heldOutFrac)
	}
	return d.Subset(tr), d.Subset(ho), nil
}

// Subset returns the spirals with the given indices (sharing their slices
// with d).
func (d *Dataset) Subset(idx []int) *Dataset {
	s := &Dataset{Config: d.Config, Ts: d.Ts}
	s.Config.N = len(idx)
	for _, i := range idx {
		s.W = append(s.W, d.W[i])
		s.X0 = append(s.X0, d.X0[i])
		s.Clockwise = append(s.Clockwise, d.Clockwise[i])
		s.Clean = append(s.Clean, d.Clean[i])
		s.Obs = append(s.Obs, d.Obs[i])
	}
	return s
}

package latentsde

import (
	"cmp"
	"fmt"
	"math"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/diffeq"
)

// OUPair is the OU KL check's pair of Ornstein–Uhlenbeck processes sharing
// the diffusion σ and the initial state Z0:
//
//	prior      dz = θp(μp − z) dt + σ dW
//	posterior  dz = θq(μq − z) dt + σ dW
type OUPair struct {
	PriorTheta, PriorMu float64 // θp, μp
	PostTheta, PostMu   float64 // θq, μq
	Sigma               float64 // σ > 0
	Z0                  float64 // initial state of both
}

// ReferenceOUPair is the reference notebook's pair: θp = 10, μp = 1,
// θq = 23, μq = 2, σ = 0.5, z0 = 0.
var ReferenceOUPair = OUPair{PriorTheta: 10, PriorMu: 1, PostTheta: 23, PostMu: 2, Sigma: 0.5}

// Validate checks that every parameter is finite, σ > 0 and θq > 0.
func (p OUPair) Validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"PriorTheta", p.PriorTheta}, {"PriorMu", p.PriorMu}, {"PostTheta", p.PostTheta}, {"PostMu", p.PostMu}, {"Sigma", p.Sigma}, {"Z0", p.Z0}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return fmt.Errorf("OUPair.%s must be finite, got %g", f.name, f.v)
		}
	}
	if !(p.Sigma > 0) {
		return fmt.Errorf("OUPair.Sigma must be > 0, got %g", p.Sigma)
	}
	if !(p.PostTheta > 0) {
		return fmt.Errorf("OUPair.PostTheta must be > 0, got %g", p.PostTheta)
	}
	return nil
}

// drift difference f − h = a + b·z.
func (p OUPair) ab() (a, b float64) {
	return p.PostTheta*p.PostMu - p.PriorTheta*p.PriorMu, p.PriorTheta - p.PostTheta
}

// PosteriorMoments returns the posterior's mean and variance at time t:
// m(t) = μq + (z0 − μq)e^{−θq t}, v(t) = σ²/(2θq)(1 − e^{−2θq t}).
func (p OUPair) PosteriorMoments(t float64) (mean, variance float64) {
	q := p.PostTheta
	return p.PostMu + (p.Z0-p.PostMu)*math.Exp(-q*t), p.Sigma * p.Sigma / (2 * q) * (-math.Expm1(-2 * q * t))
}

// KLRate returns the integrand of the path KL at time t:
// ((a + b·m(t))² + b²·v(t)) / (2σ²) with a = θqμq − θpμp, b = θp − θq.
func (p OUPair) KLRate(t float64) float64 {
	a, b := p.ab()
	m, v := p.PosteriorMoments(t)
	return ((a+b*m)*(a+b*m) + b*b*v) / (2 * p.Sigma * p.Sigma)
}

// expInt returns ∫₀ᵀ e^{−k t} dt = (1 − e^{−kT})/k (T when k = 0).
func expInt(k, T float64) float64 {
	if k == 0 {
		return T
	}
	return -math.Expm1(-k*T) / k
}

// KLClosedForm returns KL(q‖p) between the posterior and prior path measures
// on [0, t1], exactly: with f − h = a + b·z, the mean a + b·m(t) = A + B·e^{−θq t}
// (A = a + bμq, B = b(z0 − μq)), so
//
//	2σ²·KL = A²T + 2AB·E(θq) + B²·E(2θq) + b²σ²/(2θq)·(T − E(2θq)),
//
// where E(k) = ∫₀ᵀ e^{−kt} dt = (1 − e^{−kT})/k.
func (p OUPair) KLClosedForm(t1 float64) (float64, error) {
	if err := p.Validate(); err != nil {
		return 0, fmt.Errorf("latentsde.KLClosedForm: %w", err)
	}
	if !(t1 >= 0) || math.IsInf(t1, 0) {
		return 0, fmt.Errorf("latentsde.KLClosedForm: t1 must be finite and ≥ 0, got %g", t1)
	}
	a, b := p.ab()
	q, s2 := p.PostTheta, p.Sigma*p.Sigma
	A, B := a+b*p.PostMu, b*(p.Z0-p.PostMu)
	e1, e2 := expInt(q, t1), expInt(2*q, t1)
	sum := A*A*t1 + 2*A*B*e1 + B*B*e2 + b*b*s2/(2*q)*(t1-e2)
	return sum / (2 * s2), nil
}

// SDE returns the pair as a PosteriorPrior whose drifts and diffusion are
// GoMLX graphs (constants, no weights).
func (p OUPair) SDE() PosteriorPrior {
	ou := func(theta, mu float64) diffeq.Func {
		return func(_ *context.Context, _, z *Node) *Node {
			return graph.MulScalar(graph.Sub(graph.Scalar(z.Graph(), z.DType(), mu), z), theta)
		}
	}
	return PosteriorPrior{
		Posterior: ou(p.PostTheta, p.PostMu),
		Prior:     ou(p.PriorTheta, p.PriorMu),
		Diffusion: func(_ *context.Context, _, z *Node) *Node {
			return graph.BroadcastToShape(graph.Scalar(z.Graph(), z.DType(), p.Sigma), z.Shape())
		},
	}
}

// OUKLConfig configures an OU KL check.
type OUKLConfig struct {
	Pair  OUPair
	T1    float64 // end time (default 1)
	Saves int     // number of save times, linspace(0, T1, Saves) (default 100)
	Paths int     // Monte Carlo paths (default 30)
	Dt    float64 // Euler–Maruyama step (default 1e-3)
	Seed  uint64
	// DType of the solve: Float32 (fast) or Float64 (default Float64).
	DType dtypes.DType
}

func (c OUKLConfig) withDefaults() OUKLConfig {
	c.T1 = cmp.Or(c.T1, 1)
	c.Saves = cmp.Or(c.Saves, 100)
	c.Paths = cmp.Or(c.Paths, 30)
	c.Dt = cmp.Or(c.Dt, 1e-3)
	c.DType = cmp.Or(c.DType, dtypes.Float64)
	return c
}

// OUKLResult is the outcome of an OU KL check.
type OUKLResult struct {
	// Logqp is the Monte Carlo mean over paths of the KL path term integrated
	// alongside the solve (left-point rule on the solver's grid, with the ½).
	Logqp float64 `json:"logqp"`
	// LogqpStderr is its standard error (sample std / √paths).
	LogqpStderr float64 `json:"logqp_stderr"`
	// TrapezoidNoHalf is the reference notebook's hand-made estimate: the
	// trapezoid rule over the save times of ((f − h)/g)², averaged over paths,
	// without the ½ (twice the KL).
	TrapezoidNoHalf float64 `json:"trapezoid_no_half"`
	// Trapezoid is the same with the ½: an estimate of the KL.
	Trapezoid float64 `json:"trapezoid"`
	// ClosedForm is the exact KL.
	ClosedForm float64 `json:"closed_form"`
	// EulerExpected is the exact expectation of the Euler logqp estimator on
	// the solver's grid (see OUPair.EulerKL): Logqp's target for this dt.
	EulerExpected float64 `json:"euler_expected"`
	Paths         int     `json:"paths"`
	Dt            float64 `json:"dt"`
	Steps         int     `json:"steps"`
	// Seconds is the wall time of the SDE solve (compilation included on the
	// first call of a solver).
	Seconds float64 `json:"seconds"`
}

// OUKLCheck runs the OU KL check: it solves the posterior OU SDE with
// Euler–Maruyama (the KL path term carried as an extra state) from Pair.Z0
// over linspace(0, T1, Saves), and returns the Monte Carlo logqp estimate,
// the trapezoid estimates over the save times, and the closed form.
func OUKLCheck(b backends.Backend, cfg OUKLConfig) (*OUKLResult, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Pair.Validate(); err != nil {
		return nil, fmt.Errorf("latentsde.OUKLCheck: %w", err)
	}
	if cfg.Paths < 2 {
		return nil, fmt.Errorf("latentsde.OUKLCheck: Paths must be ≥ 2, got %d", cfg.Paths)
	}
	if cfg.Saves < 2 {
		return nil, fmt.Errorf("latentsde.OUKLCheck: Saves must be ≥ 2, got %d", cfg.Saves)
	}
	if !(cfg.T1 > 0) || math.IsInf(cfg.T1, 0) {
		return nil, fmt.Errorf("latentsde.OUKLCheck: T1 must be finite and > 0, got %g", cfg.T1)
	}
	if !(cfg.Dt > 0) || math.IsInf(cfg.Dt, 0) {
		return nil, fmt.Errorf("latentsde.OUKLCheck: Dt must be finite and > 0, got %g", cfg.Dt)
	}
	solver, err := NewLogqpSolver(b, nil, cfg.Pair.SDE(), diffeq.Options{Dt: cfg.Dt})
	if err != nil {
		return nil, fmt.Errorf("latentsde.OUKLCheck: %w", err)
	}
	return ouklWith(solver, cfg)
}

func ouklWith(solver *LogqpSolver, cfg OUKLConfig) (*OUKLResult, error) {
	ts, err := Linspace(0, cfg.T1, cfg.Saves)
	if err != nil {
		return nil, fmt.Errorf("latentsde.OUKLCheck: Saves: %w", err)
	}
	z0 := make([]float64, cfg.Paths)
	for i := range z0 {
		z0[i] = cfg.Pair.Z0
	}
	start := time.Now()
	sol, err := solver.Solve(diffeq.FromFloat64s(cfg.DType, z0, cfg.Paths, 1), ts, cfg.Seed)
	if err != nil {
		return nil, fmt.Errorf("latentsde.OUKLCheck: %w", err)
	}
	secs := time.Since(start).Seconds()
	mean, se := MeanStderr(sol.Logqp[len(ts)-1])
	// Hand-made trapezoid over the save times, computed in Go from the saved
	// states: ((f − h)/g)² = ((a + b·z)/σ)².
	a, bb := cfg.Pair.ab()
	var trap float64
	prev := make([]float64, cfg.Paths)
	for i, zs := range sol.Zs {
		for p, z := range zs {
			u := (a + bb*z) / cfg.Pair.Sigma
			if i > 0 {
				trap += 0.5 * (ts[i] - ts[i-1]) * (prev[p] + u*u)
			}
			prev[p] = u * u
		}
	}
	trap /= float64(cfg.Paths)
	cf, err := cfg.Pair.KLClosedForm(cfg.T1)
	if err != nil {
		return nil, err
	}
	ee, err := cfg.Pair.EulerKL(ts, cfg.Dt)
	if err != nil {
		return nil, err
	}
	return &OUKLResult{Logqp: mean, LogqpStderr: se, TrapezoidNoHalf: trap, Trapezoid: trap / 2, ClosedForm: cf, EulerExpected: ee,
		Paths: cfg.Paths, Dt: cfg.Dt, Steps: sol.Steps, Seconds: secs}, nil
}

// OUKLRow is one row of OUKLConvergence's table.
type OUKLRow struct {
	Paths       int     `json:"paths"`
	Dt          float64 `json:"dt"`
	Logqp       float64 `json:"logqp"`
	LogqpStderr float64 `json:"logqp_stderr"`
	ClosedForm  float64 `json:"closed_form"`
	// EulerExpected is the expectation of the estimator at this dt; Bias is
	// EulerExpected − ClosedForm (Euler's discretisation bias).
	EulerExpected float64 `json:"euler_expected"`
	Bias          float64 `json:"bias"`
	// Error is Logqp − ClosedForm; ZScore is Error / LogqpStderr.
	Error   float64 `json:"error"`
	ZScore  float64 `json:"z_score"`
	Seconds float64 `json:"seconds"`
}

// OUKLConvergence runs the check for every (paths, dt) pair in the cross
// product of paths and dts (cfg's Paths and Dt are overridden) and returns
// the table: the Monte Carlo error shrinks like 1/√paths and the Euler bias
// with dt. Solves of more than 8192 paths are split into batches of 8192 with
// distinct seeds, whose results are pooled.
func OUKLConvergence(b backends.Backend, cfg OUKLConfig, paths []int, dts []float64) ([]OUKLRow, error) {
	cfg = cfg.withDefaults()
	var rows []OUKLRow
	for _, dt := range dts {
		c := cfg
		c.Dt = dt
		solver, err := NewLogqpSolver(b, nil, cfg.Pair.SDE(), diffeq.Options{Dt: dt})
		if err != nil {
			return nil, fmt.Errorf("latentsde.OUKLConvergence: %w", err)
		}
		for _, n := range paths {
			if n < 2 {
				return nil, fmt.Errorf("latentsde.OUKLConvergence: paths must be ≥ 2, got %d", n)
			}
			const maxBatch = 8192
			var sum, sumSq, secs, tot float64
			var cf, ee float64
			for done, k := 0, 0; done < n; k++ {
				c.Paths = min(maxBatch, n-done)
				if c.Paths < 2 { // keep every batch ≥ 2 paths
					c.Paths = 2
				}
				c.Seed = cfg.Seed + uint64(k)*0x632be59bd9b4e019
				r, err := ouklWith(solver, c)
				if err != nil {
					return nil, fmt.Errorf("latentsde.OUKLConvergence: %w", err)
				}
				m := float64(c.Paths)
				// Pool: Σx = m·mean, Σx² = (m−1)·m·se² + m·mean².
				sum += m * r.Logqp
				sumSq += (m-1)*m*r.LogqpStderr*r.LogqpStderr + m*r.Logqp*r.Logqp
				secs += r.Seconds
				cf, ee = r.ClosedForm, r.EulerExpected
				tot += m
				done += c.Paths
			}
			mean := sum / tot
			se := math.Sqrt(math.Max(0, (sumSq-tot*mean*mean)/(tot-1)) / tot)
			rows = append(rows, OUKLRow{Paths: int(tot), Dt: dt, Logqp: mean, LogqpStderr: se, ClosedForm: cf,
				EulerExpected: ee, Bias: ee - cf, Error: mean - cf, ZScore: (mean - cf) / se, Seconds: secs})
		}
	}
	return rows, nil
}

// MeanStderr returns the mean of xs and its standard error (sample standard
// deviation over √n; 0 when n < 2).
func MeanStderr(xs []float64) (mean, stderr float64) {
	n := float64(len(xs))
	if n == 0 {
		return math.NaN(), math.NaN()
	}
	for _, x := range xs {
		mean += x
	}
	mean /= n
	if n < 2 {
		return mean, 0
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / (n - 1) / n)
}

// Linspace returns n evenly spaced values from lo to hi inclusive (just lo
// if n is 1). It returns an error naming the argument when n < 1 or lo or
// hi is not finite.
func Linspace(lo, hi float64, n int) ([]float64, error) {
	if n < 1 {
		return nil, fmt.Errorf("latentsde.Linspace: n must be ≥ 1, got %d", n)
	}
	if math.IsNaN(lo) || math.IsInf(lo, 0) || math.IsNaN(hi) || math.IsInf(hi, 0) {
		return nil, fmt.Errorf("latentsde.Linspace: lo and hi must be finite, got %g and %g", lo, hi)
	}
	out := make([]float64, n)
	for i := range out {
		if n == 1 {
			out[i] = lo
			continue
		}
		out[i] = lo + (hi-lo)*float64(i)/float64(n-1)
	}
	if n > 1 {
		out[n-1] = hi
	}
	return out, nil
}

// MustLinspace is Linspace for constant arguments (tests, examples,
// notebooks): it panics with Linspace's error.
func MustLinspace(lo, hi float64, n int) []float64 {
	out, err := Linspace(lo, hi, n)
	if err != nil {
		panic(err)
	}
	return out
}

// EulerKL returns the exact expectation of the Euler–Maruyama logqp
// estimator on the solver's grid (save times ts, each interval split into
// diffeq.StepsIn equal steps no larger than dt): with step h the scheme's
// mean and variance follow m' = m + θq(μq − m)h, v' = (1 − θq h)²v + σ²h,
// and the left-point rule adds h·((a + b·m)² + b²·v)/(2σ²) per step. Its
// difference from KLClosedForm is the discretisation bias, O(dt).
func (p OUPair) EulerKL(ts []float64, dt float64) (float64, error) {
	if err := p.Validate(); err != nil {
		return 0, fmt.Errorf("latentsde.EulerKL: %w", err)
	}
	if err := diffeq.CheckTimes("ts", ts); err != nil {
		return 0, fmt.Errorf("latentsde.EulerKL: %w", err)
	}
	a, b := p.ab()
	s2 := p.Sigma * p.Sigma
	m, v, kl := p.Z0, 0.0, 0.0
	for i := 1; i < len(ts); i++ {
		n, err := diffeq.StepsIn(ts[i]-ts[i-1], dt)
		if err != nil {
			return 0, fmt.Errorf("latentsde.EulerKL: %w", err)
		}
		h := (ts[i] - ts[i-1]) / float64(n)
		for k := 0; k < n; k++ {
			kl += h * ((a+b*m)*(a+b*m) + b*b*v) / (2 * s2)
			r := 1 - p.PostTheta*h
			m += p.PostTheta * (p.PostMu - m) * h
			v = r*r*v + s2*h
		}
	}
	return kl, nil
}

package latentsde

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/datasets/ou"
	"github.com/gosde/gosde/pkg/diffeq"
)

// ouMarginal builds, in the graph, the Gaussian marginal of the OU process
// dz = θ(μ − z) dt + σ dW started at the point z0, at the times t (rows, 1):
// m = μ + (z0 − μ)e^{−θt}, v = σ²/(2θ)(1 − e^{−2θt}), and their exact time
// derivatives (the OU moment equations m' = θ(μ − m), v' = σ² − 2θv).
func ouMarginal(t *Node, theta, mu, sigma, z0 float64) Marginal {
	e := graph.Exp(graph.MulScalar(t, -theta))
	mean := graph.AddScalar(graph.MulScalar(e, z0-mu), mu)
	v := graph.MulScalar(graph.OneMinus(graph.Square(e)), sigma*sigma/(2*theta))
	s := graph.Sqrt(v)
	dmean := graph.MulScalar(graph.Neg(graph.AddScalar(mean, -mu)), theta)                          // θ(μ − m)
	dv := graph.AddScalar(graph.MulScalar(v, -2*theta), sigma*sigma)                                // σ² − 2θv
	return Marginal{Mean: mean, Std: s, DMean: dmean, DStd: graph.Div(graph.MulScalar(dv, 0.5), s)} // s' = v'/(2s)
}

// matchingOUPathTerm estimates SDE Matching's path term T·E_t E_ε rate for
// the OU pair p on [0, 1] from n uniform times and normal draws, returning
// the per-sample values T·rate.
func matchingOUPathTerm(t *testing.T, p OUPair, n int, seed uint64) []float64 {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	ts, eps := make([]float64, n), make([]float64, n)
	for i := range ts {
		ts[i] = r.Float64()
		eps[i] = r.NormFloat64()
	}
	sde := p.SDE()
	e, err := context.NewExec(testBackend(), context.New(), func(ctx *context.Context, tt, ee *Node) *Node {
		mg := ouMarginal(tt, p.PostTheta, p.PostMu, p.Sigma, p.Z0)
		return MatchingRate(ctx, sde.Prior, sde.Diffusion, tt, mg, ee, DefaultDiffusionFloor, false)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Finalize()
	out, err := e.Exec(diffeq.FromFloat64s(dtypes.Float64, ts, n, 1), diffeq.FromFloat64s(dtypes.Float64, eps, n, 1))
	if err != nil {
		t.Fatal(err)
	}
	v, err := diffeq.Float64s(out[0])
	if err != nil {
		t.Fatal(err)
	}
	return v // T = 1
}

// TestMatchingOUPathTerm: for an OU prior and a Gaussian posterior whose
// mean and variance solve the posterior OU's moment equations, the closed
// form drift is the posterior OU drift, so the simulation-free path term
// estimates the closed-form path KL (≈ 276.4 for the reference pair) within
// its Monte Carlo error, and vanishes when posterior and prior coincide.
func TestMatchingOUPathTerm(t *testing.T) {
	p := ReferenceOUPair
	vals := matchingOUPathTerm(t, p, 40000, 3)
	mean, se := MeanStderr(vals)
	cf, err := p.KLClosedForm(1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("path term %.3f ± %.3f, closed form %.3f", mean, se, cf)
	if math.Abs(cf-276.4) > 0.1 {
		t.Fatalf("closed form %g, want ≈ 276.4", cf)
	}
	if z := (mean - cf) / se; math.Abs(z) > 3 {
		t.Errorf("path term %g ± %g is %.2f standard errors from the closed form %g", mean, se, z, cf)
	}
	if se > 0.02*cf {
		t.Errorf("standard error %g too large to test against %g", se, cf)
	}
	// Posterior = prior: the drift difference is 0 up to rounding.
	same := OUPair{PriorTheta: 10, PriorMu: 1, PostTheta: 10, PostMu: 1, Sigma: 0.5}
	for i, v := range matchingOUPathTerm(t, same, 2000, 4) {
		// rate = ½(Δ/σ)² with Δ a rounding error of θ·|z| (≈ 1e-15).
		if math.Abs(v) > 1e-20 {
			t.Fatalf("posterior = prior: T·rate[%d] = %g, want 0", i, v)
		}
	}
}

// matchingTestModel returns a float64 model with an encoder and the learned
// diffusion, its context and a matching config.
func matchingTestModel(t *testing.T) (*Model, *context.Context, MatchingConfig) {
	t.Helper()
	m, err := New(Config{DataDim: 2, LatentDim: 2, ContextDim: 3, Hidden: []int{8}, DiffusionHidden: 4, DType: dtypes.Float64})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.New()
	if err := ctx.SetRNGStateFromSeed(5); err != nil {
		t.Fatal(err)
	}
	return m, ctx, MatchingConfig{Hidden: []int{16, 16}, Frequencies: 1}
}

// randomTensor returns a (dims) float64 tensor of N(0, scale²) values.
func randomTensor(seed uint64, scale float64, dims ...int) *tensors.Tensor {
	r := rand.New(rand.NewPCG(seed, 9))
	n := 1
	for _, d := range dims {
		n *= d
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = scale * r.NormFloat64()
	}
	return diffeq.FromFloat64s(dtypes.Float64, v, dims...)
}

// TestMarginalsTimeDerivatives: the forward-mode time derivatives of the
// marginal network (through the kernel-interpolated contexts, the Fourier
// features and every layer) agree with central finite differences.
func TestMarginalsTimeDerivatives(t *testing.T) {
	m, ctx, mc := matchingTestModel(t)
	obsTs := []float64{0, 0.3, 0.45, 0.8, 1.0}
	const batch, k, h = 3, 4, 1e-5
	cs := randomTensor(1, 1, batch, len(obsTs), 3)
	tv := make([]float64, batch*k)
	r := rand.New(rand.NewPCG(2, 2))
	for i := range tv {
		tv[i] = r.Float64()
	}
	shift := func(d float64) *tensors.Tensor {
		v := make([]float64, len(tv))
		for i := range v {
			v[i] = tv[i] + d
		}
		return diffeq.FromFloat64s(dtypes.Float64, v, batch, k)
	}
	e, err := context.NewExec(testBackend(), ctx, func(ctx *context.Context, c, t0, tp, tm *Node) []*Node {
		mg := m.Marginals(ctx, mc, c, obsTs, t0)
		p := m.marginals(ctx, mc, c, obsTs, tp, false)
		q := m.marginals(ctx, mc, c, obsTs, tm, false)
		return []*Node{mg.Mean, mg.Std, mg.DMean, mg.DStd, p.Mean, p.Std, q.Mean, q.Std}
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Exec(cs, shift(0), shift(h), shift(-h))
	if err != nil {
		t.Fatal(err)
	}
	vals := make([][]float64, len(out))
	for i, o := range out {
		if vals[i], err = diffeq.Float64s(o); err != nil {
			t.Fatal(err)
		}
	}
	var maxD float64
	for which, name := range []string{"mean", "std"} {
		for i := range vals[2+which] {
			fd := (vals[4+which][i] - vals[6+which][i]) / (2 * h)
			ad := vals[2+which][i]
			maxD = math.Max(maxD, math.Abs(ad))
			if math.Abs(fd-ad) > 1e-6*math.Max(1, math.Abs(fd)) {
				t.Errorf("∂t %s[%d]: forward mode %.10g, finite difference %.10g", name, i, ad, fd)
			}
		}
	}
	for i, s := range vals[1] {
		if !(s > 0) {
			t.Fatalf("std[%d] = %g, want > 0", i, s)
		}
	}
	if maxD < 1e-3 {
		t.Errorf("largest time derivative %g: the check is vacuous", maxD)
	}
}

// TestMatchingPosteriorSDEMarginals: solving the posterior SDE with the
// closed-form drift (diffeq's Euler–Maruyama solver, a z-dependent learned
// diffusion) from z_t0 ~ N(m(t0), s(t0)²) reproduces the marginal network's
// N(m(t), s(t)²): sample means and variances at several times within 3
// standard errors.
func TestMatchingPosteriorSDEMarginals(t *testing.T) {
	m, ctx, mc := matchingTestModel(t)
	// A diffusion that depends strongly on z, so that the ½∂z g² term matters:
	// g(z) = σ(2·softplus(z) − 1) per coordinate (0.41 at z = −1, 0.84 at z = 1).
	d, hd := 2, 4
	fill := func(v float64, n int) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = v
		}
		return out
	}
	dc := ctx.In("diffusion")
	dc.VariableWithValue("w1", diffeq.FromFloat64s(dtypes.Float64, fill(1, d*hd), 1, d, hd))
	dc.VariableWithValue("b1", diffeq.FromFloat64s(dtypes.Float64, fill(0, d*hd), 1, d, hd))
	dc.VariableWithValue("w2", diffeq.FromFloat64s(dtypes.Float64, fill(0.5, d*hd), 1, d, hd))
	dc.VariableWithValue("b2", diffeq.FromFloat64s(dtypes.Float64, fill(-1, d), d))
	obsTs := []float64{0, 0.3, 0.45, 0.8, 1.0}
	cs := randomTensor(3, 0.3, 1, len(obsTs), 3)
	saveTs := []float64{0, 0.25, 0.5, 0.75, 1}
	const paths = 4000
	// The marginals at the save times.
	tsT := diffeq.FromFloat64s(dtypes.Float64, saveTs, 1, len(saveTs))
	e, err := context.NewExec(testBackend(), ctx, func(ctx *context.Context, c, tt *Node) []*Node {
		mg := m.Marginals(ctx, mc, c, obsTs, tt)
		return []*Node{mg.Mean, mg.Std}
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Exec(cs, tsT)
	if err != nil {
		t.Fatal(err)
	}
	means, _ := diffeq.Float64s(out[0]) // (1, len(saveTs), d)
	stds, _ := diffeq.Float64s(out[1])
	r := rand.New(rand.NewPCG(11, 12))
	z0 := make([]float64, paths*d)
	for p := range paths {
		for j := range d {
			z0[p*d+j] = means[j] + stds[j]*r.NormFloat64()
		}
	}
	solver, err := diffeq.NewSDESolver(testBackend(), ctx, m.MatchingPosteriorSDE(mc, cs, obsTs), diffeq.Options{Dt: 2e-3, Method: diffeq.EulerMaruyama})
	if err != nil {
		t.Fatal(err)
	}
	bm, err := diffeq.NewBrownian(13, 0, 1, 2e-3, paths, d, dtypes.Float64)
	if err != nil {
		t.Fatal(err)
	}
	sol, err := solver.Solve(diffeq.FromFloat64s(dtypes.Float64, z0, paths, d), saveTs, bm)
	if err != nil {
		t.Fatal(err)
	}
	var moved float64
	for i, y := range sol.Ys {
		v, err := diffeq.Float64s(y)
		if err != nil {
			t.Fatal(err)
		}
		for j := range d {
			col := make([]float64, paths)
			for p := range paths {
				col[p] = v[p*d+j]
			}
			mean, se := MeanStderr(col)
			variance := se * se * paths
			wantM, wantS := means[i*d+j], stds[i*d+j]
			seVar := wantS * wantS * math.Sqrt(2/float64(paths-1))
			t.Logf("t=%.2f z%d: mean %.4f (want %.4f ± %.4f), var %.4f (want %.4f ± %.4f)", saveTs[i], j, mean, wantM, se, variance, wantS*wantS, seVar)
			if math.Abs(mean-wantM) > 3*se {
				t.Errorf("t=%g z%d: sample mean %g, marginal mean %g (SE %g)", saveTs[i], j, mean, wantM, se)
			}
			if math.Abs(variance-wantS*wantS) > 3*seVar {
				t.Errorf("t=%g z%d: sample variance %g, marginal variance %g (SE %g)", saveTs[i], j, variance, wantS*wantS, seVar)
			}
			moved = math.Max(moved, math.Abs(wantM-means[j])/wantS)
		}
	}
	if moved < 0.5 {
		t.Errorf("the marginal mean moves by at most %.2f std over [0, 1]: the check is weak", moved)
	}
}

func TestMatchingConfigErrors(t *testing.T) {
	for _, c := range []MatchingConfig{{Hidden: []int{0}}, {Hidden: []int{}}, {Times: -1}, {Bandwidth: math.NaN()}, {MinStd: -1}} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: want an error", c)
		}
	}
	if err := (MatchingConfig{}).Validate(); err != nil {
		t.Error(err)
	}
	if err := Objective("bogus").Validate(); err == nil {
		t.Error("unknown objective: want an error")
	}
}

// TestMatchingTrainer: training by SDE Matching (no solver in the loop)
// lowers the negative ELBO on OU data, and the matching posterior sampler
// and the prior NLL run on the result.
func TestMatchingTrainer(t *testing.T) {
	p := ou.Process{Theta: 1.5, Mu: 0.5, Sigma: 0.4, Z0Mean: -1, Z0Std: 0.2}
	ts := MustLinspace(0, 1, 11)
	data, _, err := OUData(p, ts, 32, 0.05, 1, dtypes.Float32)
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(Config{DataDim: 1, LatentDim: 1, ContextDim: 4, EncoderHidden: 8, Hidden: []int{16, 16}, ObsScale: 0.05, Dt: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(testBackend(), nil, m, TrainConfig{LearningRate: 1e-2, Schedule: ConstantKL(1), Seed: 3,
		Objective: ObjectiveMatching, Matching: MatchingConfig{Hidden: []int{16, 16}, Times: 4}})
	if err != nil {
		t.Fatal(err)
	}
	var losses []float64
	for range 80 {
		st, err := tr.Step(data)
		if err != nil {
			t.Fatal(err)
		}
		if st.KL < 0 {
			t.Fatalf("step %d: KL %g < 0", st.Step, st.KL)
		}
		losses = append(losses, st.Loss)
	}
	first, _ := MeanStderr(losses[:10])
	last, _ := MeanStderr(losses[70:])
	t.Logf("loss: first 10 steps %.2f, last 10 %.2f", first, last)
	if !(last < first-0.5*math.Abs(first)) {
		t.Errorf("loss did not fall by half: first 10 steps %g, last 10 %g", first, last)
	}
	obs, lat, err := tr.SamplePosterior(data.Head(2), MustLinspace(0, 1, 6), 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(obs) != 2 || len(obs[0]) != 6 || len(lat[1]) != 6 {
		t.Fatalf("posterior samples shaped %d×%d, want 2×6", len(obs), len(obs[0]))
	}
	nll, err := tr.PriorNLL(data, 200, 1)
	if err != nil || math.IsNaN(nll) {
		t.Fatalf("PriorNLL = %g, %v", nll, err)
	}
}

// TestPriorNLLExact: with the data's own OU process as the prior (fixed OU
// prior, identity decoder) and stationary data, PriorNLL equals the exact
// Gaussian NLL of the data under N(μ, σ²/2θ + obs²) within its Monte Carlo
// error.
func TestPriorNLLExact(t *testing.T) {
	p := ou.Process{Theta: 2, Mu: 0.5, Sigma: 0.6}
	p.Z0Mean, p.Z0Std = p.Mu, p.Sigma/math.Sqrt(2*p.Theta)
	const obsNoise = 0.1
	ts := MustLinspace(0, 1, 6)
	data, _, err := OUData(p, ts, 400, obsNoise, 2, dtypes.Float64)
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(Config{DataDim: 1, LatentDim: 1, OUPrior: &OUPrior{Theta: p.Theta, Mu: p.Mu, Sigma: p.Sigma}, ObsScale: obsNoise, Dt: 0.01, DType: dtypes.Float64})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.New()
	dec := ctx.In("decoder")
	dec.VariableWithValue("weights", [][]float64{{1}})
	dec.VariableWithValue("biases", []float64{0})
	tr, err := NewTrainer(testBackend(), ctx, m, TrainConfig{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := tr.PriorNLL(data, 20000, 5)
	if err != nil {
		t.Fatal(err)
	}
	v := p.Sigma*p.Sigma/(2*p.Theta) + obsNoise*obsNoise
	var want float64
	rows := data.Rows()
	for _, r := range rows {
		for _, x := range r {
			want += 0.5*math.Log(2*math.Pi*v) + (x-p.Mu)*(x-p.Mu)/(2*v)
		}
	}
	want /= float64(len(rows) * len(ts))
	if r := ouNLL(p, data, obsNoise); math.Abs(r-want) > 1e-12 {
		t.Errorf("ouNLL %g, direct sum %g", r, want)
	}
	t.Logf("PriorNLL %.4f, exact %.4f", got, want)
	// 20000 samples: relative error of a variance ≈ 1%, of a mean ≈ 0.7% of
	// the std; the NLL moves by about half the variance's relative error.
	if math.Abs(got-want) > 0.02 {
		t.Errorf("PriorNLL %g, exact %g", got, want)
	}
}

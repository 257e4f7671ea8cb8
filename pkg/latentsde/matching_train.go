package latentsde

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/diffeq"
)

// matchingState holds ObjectiveMatching's training executable, built for
// the observation times ts.
type matchingState struct {
	exec *context.Exec
	ts   []float64
}

// matchingStream separates the matching noise from the solver's.
const matchingStream = 0x6d61746368696e67

// matchingExec returns the training executable for observation times ts
// (rebuilt when they change): inputs X, Mask, times, epsPath, epsObs, KL
// weight; outputs loss, log-likelihood, KL.
func (t *Trainer) matchingExec(ts []float64) (*context.Exec, error) {
	if s := t.matching; s != nil && slices.Equal(ts, s.ts) {
		return s.exec, nil
	}
	if t.matching != nil {
		t.matching.exec.Finalize()
		t.matching = nil
	}
	ts = append([]float64(nil), ts...)
	m, opt, mc := t.model, t.opt, t.cfg.Matching
	e, err := context.NewExec(t.backend, t.ctx, func(ctx *context.Context, in []*Node) []*Node {
		terms, err := m.MatchingELBOGraph(ctx, mc, Observations{X: in[0], Mask: in[1], Ts: ts}, in[2], in[3], in[4], in[5])
		if err != nil {
			panic(err)
		}
		opt.UpdateGraph(ctx, in[0].Graph(), terms.Loss)
		return []*Node{terms.Loss, terms.LogLik, terms.KL}
	})
	if err != nil {
		return nil, err
	}
	t.matching = &matchingState{exec: e, ts: ts}
	return e, nil
}

// matchingNoise returns the step's random times (batch, k), stratified
// over [t0, t1], and the normal draws for them (batch, k, d) and for the
// observation times (batch, n, d), from the stream (Seed, step).
func (t *Trainer) matchingNoise(batch int, ts []float64) (times, epsPath, epsObs []float64, k int) {
	mc := t.cfg.Matching.withDefaults()
	k, n, d := mc.Times, len(ts), t.model.cfg.LatentDim
	r := rand.New(rand.NewPCG(t.cfg.Seed^matchingStream, uint64(t.step)+1))
	t0, span := ts[0], ts[n-1]-ts[0]
	times = make([]float64, batch*k)
	for i := range times {
		times[i] = t0 + span*(float64(i%k)+r.Float64())/float64(k)
	}
	epsPath, epsObs = make([]float64, batch*k*d), make([]float64, batch*n*d)
	for i := range epsPath {
		epsPath[i] = r.NormFloat64()
	}
	for i := range epsObs {
		epsObs[i] = r.NormFloat64()
	}
	return times, epsPath, epsObs, k
}

// matchingStep is Step for ObjectiveMatching.
func (t *Trainer) matchingStep(data Data, start time.Time) (StepStats, error) {
	c := t.model.cfg
	if len(data.Ts) < 2 {
		return StepStats{}, fmt.Errorf("latentsde.Trainer.Step: SDE Matching needs ≥ 2 observation times, got %d", len(data.Ts))
	}
	exec, err := t.matchingExec(data.Ts)
	if err != nil {
		return StepStats{}, fmt.Errorf("latentsde.Trainer.Step: %w", err)
	}
	batch, n, d := data.X.Shape().Dimensions[0], len(data.Ts), c.LatentDim
	times, epsPath, epsObs, k := t.matchingNoise(batch, data.Ts)
	mask := data.Mask
	if mask == nil {
		mask = onesLike(data.X, c.DType)
	}
	w := t.cfg.Schedule.Weight(t.step)
	out, err := exec.Exec(castTo(data.X, c.DType), castTo(mask, c.DType), diffeq.FromFloat64s(c.DType, times, batch, k),
		diffeq.FromFloat64s(c.DType, epsPath, batch, k, d), diffeq.FromFloat64s(c.DType, epsObs, batch, n, d), diffeq.ScalarTensor(c.DType, w))
	if err != nil {
		return StepStats{}, fmt.Errorf("latentsde.Trainer.Step: %w", err)
	}
	return t.stepStats(out, w, start)
}

// sampleMatchingPosterior is SamplePosterior for a matching-trained model:
// z_t0 ~ N(m(t0), s(t0)²) and the posterior SDE with the closed-form drift
// (MatchingPosteriorSDE), one path per sequence, solved by Euler–Maruyama
// with a tenth of the model's Dt: the drift's −½g²(z − m)/s² term pulls
// with rate g²/2s², large where s is small (near observations), and at the
// model's Dt the scheme overshoots. Beyond the last observation the marginal
// network extrapolates.
func (t *Trainer) sampleMatchingPosterior(data Data, predTs []float64, seed uint64) (obs, latents [][]float64, err error) {
	c, m, mc := t.model.cfg, t.model, t.cfg.Matching
	nseq, d := data.X.Shape().Dimensions[0], c.LatentDim
	obsTs := append([]float64(nil), data.Ts...)
	enc, err := context.NewExec(t.backend, t.ctx, func(ctx *context.Context, x, mask *Node) []*Node {
		o := Observations{X: x, Mask: mask, Ts: obsTs}
		cs := m.matchingContexts(ctx, o)
		t0 := graph.BroadcastToDims(m.scalar(x.Graph(), obsTs[0]), nseq, 1)
		mg := m.marginals(ctx, mc, cs, obsTs, t0, false)
		out := []*Node{mg.Mean, mg.Std}
		if cs != nil {
			out = append(out, cs)
		}
		return out
	})
	if err != nil {
		return nil, nil, fmt.Errorf("latentsde.Trainer.SamplePosterior: %w", err)
	}
	defer enc.Finalize()
	mask := data.Mask
	if mask == nil {
		mask = onesLike(data.X, c.DType)
	}
	out, err := enc.Exec(castTo(data.X, c.DType), castTo(mask, c.DType))
	if err != nil {
		return nil, nil, fmt.Errorf("latentsde.Trainer.SamplePosterior: %w", err)
	}
	mean, _ := diffeq.Float64s(out[0])
	std, _ := diffeq.Float64s(out[1])
	r := rand.New(rand.NewPCG(seed, matchingStream))
	z0 := make([]float64, nseq*d)
	for i := range z0 {
		z0[i] = mean[i] + std[i]*r.NormFloat64()
	}
	var cs = out[len(out)-1]
	if c.ContextDim == 0 {
		cs = nil
	}
	solver, err := diffeq.NewSDESolver(t.backend, t.ctx, m.MatchingPosteriorSDE(mc, cs, obsTs), diffeq.Options{Dt: c.Dt / 10, Method: diffeq.EulerMaruyama})
	if err != nil {
		return nil, nil, fmt.Errorf("latentsde.Trainer.SamplePosterior: %w", err)
	}
	bm, err := diffeq.NewBrownian(seed, predTs[0], predTs[len(predTs)-1], c.Dt/10, nseq, d, c.DType)
	if err != nil {
		return nil, nil, fmt.Errorf("latentsde.Trainer.SamplePosterior: %w", err)
	}
	sol, err := solver.Solve(diffeq.FromFloat64s(c.DType, z0, nseq, d), predTs, bm)
	if err != nil {
		return nil, nil, fmt.Errorf("latentsde.Trainer.SamplePosterior: %w", err)
	}
	// Stack the latents (nseq, T, d) and decode them.
	zs := make([]float64, nseq*len(predTs)*d)
	for k, y := range sol.Ys {
		v, err := diffeq.Float64s(y)
		if err != nil {
			return nil, nil, err
		}
		for i := range nseq {
			copy(zs[(i*len(predTs)+k)*d:(i*len(predTs)+k+1)*d], v[i*d:(i+1)*d])
		}
	}
	dec, err := context.NewExec(t.backend, t.ctx, func(ctx *context.Context, z *Node) *Node { return m.Decode(ctx, z) })
	if err != nil {
		return nil, nil, fmt.Errorf("latentsde.Trainer.SamplePosterior: %w", err)
	}
	defer dec.Finalize()
	zt := diffeq.FromFloat64s(c.DType, zs, nseq, len(predTs), d)
	xo, err := dec.Exec(zt)
	if err != nil {
		return nil, nil, fmt.Errorf("latentsde.Trainer.SamplePosterior: %w", err)
	}
	return unstack(xo[0], nseq), unstack(zt, nseq), nil
}

// PriorNLL returns the held-out fit of the trained prior: the negative
// log-likelihood per observed value of data under the prior predictive
// marginals, each (time, coordinate) marginal a Gaussian with the mean and
// variance of `samples` decoded prior paths (Trainer.SamplePrior, the
// ordinary solver) plus the observation variance ObsScale². It depends on
// the prior, diffusion, p(z0) and decoder only, so it compares models
// trained by any method.
func (t *Trainer) PriorNLL(data Data, samples int, seed uint64) (float64, error) {
	c := t.model.cfg
	if err := data.Validate(c); err != nil {
		return 0, fmt.Errorf("latentsde.Trainer.PriorNLL: %w", err)
	}
	if samples < 2 {
		return 0, fmt.Errorf("latentsde.Trainer.PriorNLL: samples must be ≥ 2, got %d", samples)
	}
	prior, _, err := t.SamplePrior(samples, data.Ts, seed)
	if err != nil {
		return 0, fmt.Errorf("latentsde.Trainer.PriorNLL: %w", err)
	}
	nt, dd := len(data.Ts), c.DataDim
	mean, variance := make([]float64, nt*dd), make([]float64, nt*dd)
	for _, p := range prior {
		for i, v := range p {
			mean[i] += v
		}
	}
	for i := range mean {
		mean[i] /= float64(samples)
	}
	for _, p := range prior {
		for i, v := range p {
			variance[i] += (v - mean[i]) * (v - mean[i])
		}
	}
	for i := range variance {
		variance[i] = variance[i]/float64(samples-1) + c.ObsScale*c.ObsScale
	}
	nll, ok := gaussianNLL(data, mean, variance)
	if !ok {
		return 0, fmt.Errorf("latentsde.Trainer.PriorNLL: data has no observed value")
	}
	return nll, nil
}

// gaussianNLL returns the mean negative log-likelihood per observed value
// of data's rows (mask 1) under independent Gaussians with the given mean
// and variance per row element (time-major, len(Ts)·DataDim), and false
// when nothing is observed.
func gaussianNLL(data Data, mean, variance []float64) (float64, bool) {
	xs := data.Rows()
	var masks [][]float64
	if data.Mask != nil {
		masks = unstack(data.Mask, len(xs))
	}
	var sum, count float64
	for r, x := range xs {
		for i, v := range x {
			if masks != nil && masks[r][i] == 0 {
				continue
			}
			sum += 0.5*math.Log(2*math.Pi*variance[i]) + (v-mean[i])*(v-mean[i])/(2*variance[i])
			count++
		}
	}
	return sum / count, count > 0
}

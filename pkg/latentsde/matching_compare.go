package latentsde

import (
	"cmp"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/gosde/gosde/pkg/adjoint"
	"github.com/gosde/gosde/pkg/datasets/lorenz"
	"github.com/gosde/gosde/pkg/datasets/ou"
	"github.com/gosde/gosde/pkg/diffeq"
	"github.com/gosde/gosde/pkg/plotting"
	"gonum.org/v1/plot"
)

// CompareConfig configures CompareMethods: the same latent SDE trained on
// the same data by SDE Matching and by the stochastic adjoint.
type CompareConfig struct {
	Name     string // a label for reports ("ou", "lorenz")
	Model    Config
	Matching MatchingConfig
	// Train and HeldOut are the training set (all of it is each step's
	// batch) and the held-out set on which the fit is measured.
	Train, HeldOut Data
	LearningRate   float64    // Adam's (default 1e-2)
	Schedule       KLSchedule // KL weight per step (default LinearWarmup{Max: 1, Steps: 100})
	// Seconds is each method's training wall-time budget (default 60); a
	// method also stops after MaxSteps steps (default: no limit).
	Seconds  float64
	MaxSteps int
	// Evals is the number of held-out evaluations over the budget, at equal
	// intervals of training time (default 10), plus one before training.
	Evals int
	// Samples is the number of prior paths per evaluation (default 500).
	Samples int
	// AdjointShards is the stochastic adjoint's TrainerConfig.Shards (0: 1).
	AdjointShards int
	// OU, if set, is the data's OU process: the learned priors' moments are
	// then compared with its exact ones.
	OU   *ou.Process
	Seed uint64
}

// Curve is one method's held-out fit against training wall time.
type Curve struct {
	Method string
	// Seconds[i] is the training wall time (evaluations excluded) at the
	// i-th evaluation, after Steps[i] steps; NLL[i] the held-out prior NLL
	// per observed value (Trainer.PriorNLL).
	Seconds []float64
	Steps   []int
	NLL     []float64
	// SecondsPerStep is the mean training step time.
	SecondsPerStep float64
	// PriorSamples are decoded prior paths after training at the held-out
	// times, flattened as in SamplePrior (up to 100).
	PriorSamples [][]float64
	// Moments compares the prior with CompareConfig.OU (nil without it),
	// from Samples paths at the held-out times.
	Moments []MomentRow
	// MaxRelMeanErr and MaxRelStdErr are the largest |error| of the prior's
	// mean and std over the times, relative to the true std and std
	// (Moments only).
	MaxRelMeanErr, MaxRelStdErr float64
}

// Comparison is CompareMethods' result.
type Comparison struct {
	Name              string
	Matching, Adjoint Curve
	// Reached reports whether SDE Matching, after at least one step,
	// reached a held-out NLL at or below the adjoint's final one;
	// ReachSeconds is the training time it took and Ratio the adjoint's
	// total training time over ReachSeconds (both 0 when not Reached).
	Reached             bool
	ReachSeconds, Ratio float64
	// ReferenceNLL is the held-out NLL per value under the data-generating
	// OU process's exact marginals (plus the observation variance): the
	// floor for a prior-marginal fit (0 without CompareConfig.OU).
	ReferenceNLL float64
}

func (c CompareConfig) withDefaults() CompareConfig {
	c.LearningRate = cmp.Or(c.LearningRate, 1e-2)
	if c.Schedule == nil {
		c.Schedule = LinearWarmup{Max: 1, Steps: 100}
	}
	c.Seconds = cmp.Or(c.Seconds, 60)
	c.Evals = cmp.Or(c.Evals, 10)
	c.Samples = cmp.Or(c.Samples, 500)
	c.AdjointShards = cmp.Or(c.AdjointShards, 1)
	return c
}

// CompareMethods trains cfg.Model on cfg.Train twice from fresh weights —
// by SDE Matching (Trainer with ObjectiveMatching) and by the stochastic
// adjoint (adjoint.Trainer on AdjointModel, its default Stratonovich Heun
// solve with the model's Dt) — with the same Adam settings, KL schedule and
// batch (all of Train), each for cfg.Seconds of training time, and records
// the held-out prior NLL against training time.
func CompareMethods(b backends.Backend, cfg CompareConfig) (*Comparison, error) {
	cfg = cfg.withDefaults()
	if b == nil {
		return nil, fmt.Errorf("latentsde.CompareMethods: backend is nil")
	}
	if err := cfg.Train.Validate(cfg.Model); err != nil {
		return nil, fmt.Errorf("latentsde.CompareMethods: Train: %w", err)
	}
	if err := cfg.HeldOut.Validate(cfg.Model); err != nil {
		return nil, fmt.Errorf("latentsde.CompareMethods: HeldOut: %w", err)
	}
	if !(cfg.Seconds > 0) || math.IsInf(cfg.Seconds, 0) || cfg.Evals < 1 || cfg.Samples < 2 || cfg.MaxSteps < 0 {
		return nil, fmt.Errorf("latentsde.CompareMethods: want Seconds > 0, Evals ≥ 1, Samples ≥ 2, MaxSteps ≥ 0; got %g, %d, %d, %d", cfg.Seconds, cfg.Evals, cfg.Samples, cfg.MaxSteps)
	}
	out := &Comparison{Name: cfg.Name}
	var err error
	if out.Matching, err = runCurve(b, cfg, true); err != nil {
		return nil, err
	}
	if out.Adjoint, err = runCurve(b, cfg, false); err != nil {
		return nil, err
	}
	if cfg.OU != nil && cfg.Model.DataDim == 1 {
		out.ReferenceNLL = ouNLL(*cfg.OU, cfg.HeldOut, cfg.Model.ObsScale)
	}
	final := out.Adjoint.NLL[len(out.Adjoint.NLL)-1]
	for i, v := range out.Matching.NLL {
		if out.Matching.Steps[i] > 0 && v <= final {
			out.Reached, out.ReachSeconds = true, out.Matching.Seconds[i]
			out.Ratio = out.Adjoint.Seconds[len(out.Adjoint.Seconds)-1] / out.ReachSeconds
			break
		}
	}
	return out, nil
}

// ouNLL returns the mean NLL per observed value of data (DataDim 1) under
// N(mean(t), variance(t) + obsScale²) of the OU process p started at data.Ts[0].
func ouNLL(p ou.Process, data Data, obsScale float64) float64 {
	mean, variance := make([]float64, len(data.Ts)), make([]float64, len(data.Ts))
	for k, t := range data.Ts {
		mean[k], variance[k] = p.Mean(t-data.Ts[0]), p.Variance(t-data.Ts[0])+obsScale*obsScale
	}
	nll, _ := gaussianNLL(data, mean, variance)
	return nll
}

// runCurve trains one method and evaluates it along the way.
func runCurve(b backends.Backend, cfg CompareConfig, matching bool) (Curve, error) {
	name := map[bool]string{true: "sde-matching", false: "stochastic-adjoint"}[matching]
	fail := func(err error) (Curve, error) {
		return Curve{}, fmt.Errorf("latentsde.CompareMethods: %s: %w", name, err)
	}
	m, err := New(cfg.Model)
	if err != nil {
		return fail(err)
	}
	ctx := context.New()
	if err := ctx.SetRNGStateFromSeed(int64(cfg.Seed)); err != nil {
		return fail(err)
	}
	tc := TrainConfig{LearningRate: cfg.LearningRate, Schedule: cfg.Schedule, Seed: cfg.Seed}
	if matching {
		tc.Objective, tc.Matching = ObjectiveMatching, cfg.Matching
	}
	// With ObjectiveMatching tr trains; otherwise it only samples the prior
	// of the weights the adjoint trainer updates in the same context.
	tr, err := NewTrainer(b, ctx, m, tc)
	if err != nil {
		return fail(err)
	}
	var step func(k int) error
	if matching {
		step = func(int) error { _, err := tr.Step(cfg.Train); return err }
	} else {
		at, err := adjoint.NewTrainer(b, ctx, m.AdjointModel(cfg.Train.Ts), adjoint.TrainerConfig{Method: adjoint.Adjoint,
			Solver: diffeq.Options{Dt: m.cfg.Dt}, Shards: cfg.AdjointShards, Seed: cfg.Seed,
			Optimizer: optimizers.Adam().LearningRate(cfg.LearningRate).Done()})
		if err != nil {
			return fail(err)
		}
		step = func(k int) error {
			in, err := m.AdjointInputs(cfg.Train, cfg.Schedule.Weight(k), cfg.Seed, uint64(k))
			if err != nil {
				return err
			}
			_, err = at.Step(in, cfg.Train.Ts)
			return err
		}
	}
	c := Curve{Method: name}
	// evaluator returns a trainer that samples the current prior: tr itself
	// for SDE Matching; for the adjoint one on a copy of the weights with
	// its DynamicsScope removed (the scopes Model's methods use).
	evaluator := func() (*Trainer, error) {
		if matching {
			return tr, nil
		}
		flat, err := flattenDynamics(ctx)
		if err != nil {
			return nil, err
		}
		return NewTrainer(b, flat, m, TrainConfig{})
	}
	eval := func(secs float64, steps int) error {
		ev, err := evaluator()
		if err != nil {
			return err
		}
		nll, err := ev.PriorNLL(cfg.HeldOut, cfg.Samples, cfg.Seed+99)
		if err != nil {
			return err
		}
		c.Seconds, c.Steps, c.NLL = append(c.Seconds, secs), append(c.Steps, steps), append(c.NLL, nll)
		return nil
	}
	if err := eval(0, 0); err != nil {
		return fail(err)
	}
	var trained float64
	k := 0
	for i := 1; i <= cfg.Evals; i++ {
		until := cfg.Seconds * float64(i) / float64(cfg.Evals)
		for trained < until && (cfg.MaxSteps == 0 || k < cfg.MaxSteps) {
			start := time.Now()
			if err := step(k); err != nil {
				return fail(fmt.Errorf("step %d: %w", k, err))
			}
			trained += time.Since(start).Seconds()
			k++
		}
		if err := eval(trained, k); err != nil {
			return fail(err)
		}
		if cfg.MaxSteps > 0 && k >= cfg.MaxSteps {
			break
		}
	}
	c.SecondsPerStep = trained / float64(max(k, 1))
	ev, err := evaluator()
	if err != nil {
		return fail(err)
	}
	prior, _, err := ev.SamplePrior(cfg.Samples, cfg.HeldOut.Ts, cfg.Seed+7)
	if err != nil {
		return fail(err)
	}
	c.PriorSamples = prior[:min(100, len(prior))]
	if cfg.OU != nil && cfg.Model.DataDim == 1 {
		if c.Moments, err = CompareMoments(*cfg.OU, cfg.HeldOut.Ts, prior); err != nil {
			return fail(err)
		}
		for _, r := range c.Moments {
			c.MaxRelMeanErr = math.Max(c.MaxRelMeanErr, r.MeanErr/r.TrueStd)
			c.MaxRelStdErr = math.Max(c.MaxRelStdErr, r.StdErrAbs/r.TrueStd)
		}
	}
	return c, nil
}

// ComparePreset returns the comparison settings for a data set: "ou" (the
// OU data of `gosde latentsde`: θ = 1.5, μ = 0.5, σ = 0.4, x0 ~ N(−1,
// 0.2²), 21 times on [0, 2], noise 0.02; latent size 1, context 8, drift
// widths 32, dt 0.05) or "lorenz" (lorenz.Default() data, 50 times on [0,
// 1], noise 0.01; latent size 4, context 16, drift widths 64, dt 0.01).
// Each uses `paths` training and as many held-out sequences and seconds of
// training per method.
func ComparePreset(name string, paths int, seconds float64, seed uint64) (CompareConfig, error) {
	if paths < 2 {
		return CompareConfig{}, fmt.Errorf("latentsde.ComparePreset: paths must be ≥ 2, got %d", paths)
	}
	cfg := CompareConfig{Name: name, Seconds: seconds, Seed: seed}
	switch name {
	case "ou":
		p := ou.Process{Theta: 1.5, Mu: 0.5, Sigma: 0.4, Z0Mean: -1, Z0Std: 0.2}
		ts, err := Linspace(0, 2, 21)
		if err != nil {
			return cfg, err
		}
		data, _, err := OUData(p, ts, 2*paths, 0.02, seed, dtypes.Float32)
		if err != nil {
			return cfg, err
		}
		cfg.Train, cfg.HeldOut = data.Head(paths), dataRange(data, paths, 2*paths)
		cfg.Model = Config{DataDim: 1, LatentDim: 1, ContextDim: 8, EncoderHidden: 16, Hidden: []int{32, 32}, ObsScale: 0.02, Dt: 0.05}
		cfg.Matching = MatchingConfig{Hidden: []int{32, 32}}
		cfg.OU = &p
	case "lorenz":
		ds, err := lorenz.Generate(lorenz.Config{Params: lorenz.Default(), N: 2 * paths, Seed: seed})
		if err != nil {
			return cfg, err
		}
		all := Data{Ts: ds.Ts, X: diffeq.FromFloat64s(dtypes.Float32, ds.X, 2*paths, len(ds.Ts), 3)}
		cfg.Train, cfg.HeldOut = all.Head(paths), dataRange(all, paths, 2*paths)
		cfg.Model = Config{DataDim: 3, LatentDim: 4, ContextDim: 16, EncoderHidden: 32, Hidden: []int{64, 64}, ObsScale: 0.01, Dt: 0.01}
		cfg.Matching = MatchingConfig{Hidden: []int{64, 64}}
	default:
		return cfg, fmt.Errorf("latentsde.ComparePreset: unknown data set %q (ou, lorenz)", name)
	}
	return cfg, nil
}

// dataRange returns sequences lo … hi−1 of d.
func dataRange(d Data, lo, hi int) Data {
	dims := d.X.Shape().Dimensions
	w := dims[1] * dims[2]
	part := func(x *tensors.Tensor) *tensors.Tensor {
		if x == nil {
			return nil
		}
		v, err := diffeq.Float64s(x)
		if err != nil {
			panic(err)
		}
		return diffeq.FromFloat64s(x.DType(), v[lo*w:hi*w], hi-lo, dims[1], dims[2])
	}
	return Data{Ts: d.Ts, X: part(d.X), Mask: part(d.Mask)}
}

// ComparisonFigures returns two figures of a comparison: the held-out NLL
// of both methods against training time, and, side by side, 30 held-out
// sequences and 30 prior samples of each trained model (first data
// coordinate), each panel with the held-out data's 5–95% band.
func ComparisonFigures(res *Comparison, heldOut Data) (fit, prior plotting.Figure, err error) {
	if res == nil || len(res.Matching.NLL) == 0 || len(res.Adjoint.NLL) == 0 {
		return nil, nil, fmt.Errorf("latentsde.ComparisonFigures: empty comparison")
	}
	series := []plotting.Series{
		{Label: "SDE Matching", Xs: res.Matching.Seconds, Ys: res.Matching.NLL, Points: true},
		{Label: "stochastic adjoint", Xs: res.Adjoint.Seconds, Ys: res.Adjoint.NLL, Points: true},
	}
	if res.ReferenceNLL != 0 {
		end := math.Max(res.Matching.Seconds[len(res.Matching.Seconds)-1], res.Adjoint.Seconds[len(res.Adjoint.Seconds)-1])
		series = append(series, plotting.Series{Label: "true OU marginals", Xs: []float64{0, end}, Ys: []float64{res.ReferenceNLL, res.ReferenceNLL}, Dashed: true})
	}
	fit, err = plotting.Lines(res.Name+": held-out NLL per value vs training time", "training wall time (s)", "held-out NLL (prior marginals)", series...)
	if err != nil {
		return nil, nil, err
	}
	ts := heldOut.Ts
	dd := heldOut.X.Shape().Dimensions[2]
	first := func(rows [][]float64) [][]float64 {
		out := make([][]float64, min(30, len(rows)))
		for i := range out {
			out[i] = make([]float64, len(ts))
			for k := range ts {
				out[i][k] = rows[i][k*dd]
			}
		}
		return out
	}
	all := heldOut.Rows()
	data := first(all)
	full := make([][]float64, len(all))
	for i, r := range all {
		full[i] = make([]float64, len(ts))
		for k := range ts {
			full[i][k] = r[k*dd]
		}
	}
	band, err := plotting.QuantileBand("held-out data 5–95%", full, 0.05, 0.95)
	if err != nil {
		return nil, nil, err
	}
	var panels []*plot.Plot
	for _, p := range []struct {
		title string
		paths [][]float64
	}{{"held-out data", data}, {"prior samples, SDE Matching", first(res.Matching.PriorSamples)}, {"prior samples, stochastic adjoint", first(res.Adjoint.PriorSamples)}} {
		pl, err := plotting.Paths(p.title, ts, p.paths, []plotting.Band{band})
		if err != nil {
			return nil, nil, err
		}
		panels = append(panels, pl)
	}
	grid, err := plotting.NewGrid(res.Name+": data and learned priors (first coordinate)", 1, 3, panels...)
	if err != nil {
		return nil, nil, err
	}
	return fit, grid, nil
}

// flattenDynamics returns a new context holding copies of src's trainable
// variables, with adjoint.Trainer's DynamicsScope prefix removed from their
// scopes: the layout Model's methods read (adjoint.Trainer keeps the SDE's
// networks under DynamicsScope, the encoder and decoder at the root).
func flattenDynamics(src *context.Context) (*context.Context, error) {
	dst := context.New()
	prefix := context.ScopeSeparator + adjoint.DynamicsScope
	for v := range src.IterVariables() {
		if !v.Trainable {
			continue
		}
		val, err := v.Value()
		if err != nil {
			return nil, err
		}
		vals, err := diffeq.Float64s(val)
		if err != nil {
			return nil, err
		}
		scope := v.Scope()
		if scope == prefix || strings.HasPrefix(scope, prefix+context.ScopeSeparator) {
			scope = cmp.Or(strings.TrimPrefix(scope, prefix), context.ScopeSeparator)
		}
		dst.InAbsPath(scope).VariableWithValue(v.Name(), diffeq.FromFloat64s(val.DType(), vals, val.Shape().Dimensions...))
	}
	return dst, nil
}

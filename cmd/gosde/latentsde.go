package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/internal/checkpoint"
	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/datasets/ou"
	"github.com/gosde/gosde/pkg/latentsde"
	"github.com/gosde/gosde/pkg/plotting"

	"github.com/gosde/gosde/internal/atomicfile"
	"github.com/gosde/gosde/pkg/progress"
)

func init() {
	register("latentsde", "train a latent SDE on OU paths; ELBO curve, prior vs true moments, plots", runLatentSDE)
}

// latentSDEHistory is the ELBO curve for the report and plots, taken from
// the trainer's history (which its checkpoints carry).
type latentSDEHistory struct {
	Steps  []int     `json:"steps"`
	Loss   []float64 `json:"loss"`
	LogLik []float64 `json:"loglik"`
	KL     []float64 `json:"kl"`
	ELBO   []float64 `json:"elbo"`
}

// sequentialBackend returns the backend named by GOMLX_BACKEND or, when it is
// unset or plain "go", the embedded backend with sequential op execution: GoMLX v0.26's
// parallel executor can deadlock on the latent SDE's training graph.
func sequentialBackend() (backends.Backend, error) {
	if v := os.Getenv(backend.EnvVar); v != "" && v != backend.Embedded {
		return backend.New()
	}
	return backend.NewWithConfig("go:ops_sequential")
}

func runLatentSDE(args []string) error {
	fs := flag.NewFlagSet("latentsde", flag.ContinueOnError)
	out := fs.String("out", "latentsde_out", "output directory (checkpoint, history, plots, report); an existing checkpoint is resumed")
	steps := fs.Int("steps", 300, "total training steps (a resumed run continues up to this)")
	p := ou.Process{Theta: 1.5, Mu: 0.5, Sigma: 0.4, Z0Mean: -1, Z0Std: 0.2}
	fs.Float64Var(&p.Theta, "theta", p.Theta, "OU mean-reversion rate of the data")
	fs.Float64Var(&p.Mu, "mu", p.Mu, "OU mean of the data")
	fs.Float64Var(&p.Sigma, "sigma", p.Sigma, "OU diffusion of the data")
	fs.Float64Var(&p.Z0Mean, "z0-mean", p.Z0Mean, "mean of the data's initial state")
	fs.Float64Var(&p.Z0Std, "z0-std", p.Z0Std, "std of the data's initial state")
	t1 := fs.Float64("t1", 2, "end time")
	nObs := fs.Int("obs", 21, "observation times linspace(0, t1, obs)")
	paths := fs.Int("paths", 128, "training paths (all form the batch of each step)")
	obsNoise := fs.Float64("obs-noise", 0.02, "observation noise std (also the Gaussian likelihood's std)")
	latent := fs.Int("latent", 1, "latent size")
	ctxDim := fs.Int("context", 8, "encoder context size")
	hidden := fs.Int("hidden", 32, "drift networks' hidden width (two layers)")
	encHidden := fs.Int("encoder-hidden", 16, "GRU width")
	dt := fs.Float64("dt", 0.05, "Euler–Maruyama step")
	lr := fs.Float64("lr", 1e-2, "Adam learning rate")
	klSpec := fs.String("kl", "linear:100", "KL weight schedule: constant:W, linear:STEPS[:MAX], cyclical:PERIOD:CYCLES[:RATIO[:MAX]]")
	likName := fs.String("likelihood", "gaussian", "observation likelihood: gaussian or laplace")
	saveEvery := fs.Int("save-every", 50, "checkpoint every this many steps")
	samples := fs.Int("samples", 1000, "prior samples for the moment comparison")
	seed := fs.Uint64("seed", 1, "random seed (data and noise)")
	chunk := fs.Int("chunk", -1, "solver steps per executable call, recomputed in the backward pass (0: the whole solve in one graph; default: 10 on XLA, whose compile time grows with the graph, 0 on the pure-Go backend)")
	shards := fs.Int("shards", 0, "row blocks of the batch trained concurrently (0: one per CPU on the pure-Go backend, 1 on XLA)")
	method := fs.String("method", "solver", "training objective: solver (backprop through the Euler–Maruyama solve) or matching (SDE Matching: simulation-free, no solver in the training loop; --chunk and --shards do not apply)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := checkFlags(fs, atLeast(0, "steps", "z0-std", "sigma", "shards"), atLeast(-1, "chunk"),
		atLeast(1, "save-every", "paths", "latent", "context", "hidden", "encoder-hidden"), atLeast(2, "obs", "samples"),
		positive("t1", "obs-noise", "dt", "lr"), finite("theta", "mu", "z0-mean")); err != nil {
		return err
	}
	sched, err := latentsde.ParseKLSchedule(*klSpec)
	if err != nil {
		return fmt.Errorf("--kl: %w", err)
	}
	objective := latentsde.Objective(*method)
	if err := objective.Validate(); err != nil {
		return fmt.Errorf("--method: %w", err)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	b, err := sequentialBackend()
	if err != nil {
		return err
	}
	ts, err := latentsde.Linspace(0, *t1, *nObs)
	if err != nil {
		return fmt.Errorf("--obs: %w", err)
	}
	data, _, err := latentsde.OUData(p, ts, *paths, *obsNoise, *seed, dtypes.Float32)
	if err != nil {
		return err
	}
	model, err := latentsde.New(latentsde.Config{DataDim: 1, LatentDim: *latent, ContextDim: *ctxDim, Hidden: []int{*hidden, *hidden},
		EncoderHidden: *encHidden, Likelihood: latentsde.Likelihood(*likName), ObsScale: *obsNoise, Dt: *dt})
	if err != nil {
		return err
	}
	ctx := context.New()
	if err := ctx.SetRNGStateFromSeed(int64(*seed)); err != nil {
		return err
	}
	embedded := strings.Contains(b.Name(), "(go)")
	if *chunk < 0 {
		*chunk = 10
		if embedded {
			*chunk = 0
		}
	}
	if *shards == 0 {
		*shards = 1
		if embedded {
			*shards = runtime.NumCPU()
		}
	}
	tr, err := latentsde.NewTrainer(b, ctx, model, latentsde.TrainConfig{LearningRate: *lr, Schedule: sched, Seed: *seed, Chunk: *chunk, Shards: *shards, Objective: objective})
	if err != nil {
		return err
	}
	ckPath, histPath := filepath.Join(*out, "checkpoint.bin"), filepath.Join(*out, "history.json")
	if _, err := os.Stat(ckPath); err == nil {
		// A damaged checkpoint, or one of another model or configuration,
		// stops the run here; nothing is overwritten.
		if err := tr.Load(ckPath); err != nil {
			return err
		}
		fmt.Printf("resuming from %s at step %d\n", ckPath, tr.GlobalStep())
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	// history.json is derived from the checkpoint and written after it, so it
	// never runs ahead of the checkpoint; a resume rewrites it from there.
	save := func() error {
		if err := tr.Save(ckPath); err != nil {
			return err
		}
		return checkpoint.WriteHistory(histPath, tr.History())
	}
	var total float64
	bar := progress.NewWriter("latentsde", *steps, os.Stdout)
	for tr.GlobalStep() < *steps {
		st, err := tr.Step(data)
		if err != nil {
			return err
		}
		total += st.Seconds
		showStep(bar, st)
		if st.Step%*saveEvery == 0 || st.Step == *steps {
			if err := save(); err != nil {
				return err
			}
		}
	}
	bar.Done()
	if err := save(); err != nil {
		return err
	}
	h := tr.History()
	hist := latentSDEHistory{Steps: h.Steps, Loss: h.Column("loss"), LogLik: h.Column("loglik"), KL: h.Column("kl"), ELBO: h.Column("elbo")}
	return latentSDEReport(tr, p, data, &hist, *samples, *seed, *out)
}

// showStep shows the step's figures on the progress bar.
func showStep(bar *progress.Bar, st latentsde.StepStats) {
	bar.SetNote(fmt.Sprintf("loglik %.4g · KL %.4g (w %.2f)", st.LogLik, st.KL, st.KLWeight))
	bar.Update(st.Step, st.Loss)
}

// firstCoord returns rows[i][k*dim] for k < n: the first data coordinate
// of each flattened path.
func firstCoord(rows [][]float64, n, dim int) [][]float64 {
	out := make([][]float64, len(rows))
	for i, r := range rows {
		out[i] = make([]float64, n)
		for k := range n {
			out[i][k] = r[k*dim]
		}
	}
	return out
}

func latentSDEReport(tr *latentsde.Trainer, p ou.Process, data latentsde.Data, hist *latentSDEHistory, samples int, seed uint64, out string) error {
	ts := data.Ts
	fine, err := latentsde.Linspace(ts[0], ts[len(ts)-1], 4*(len(ts)-1)+1)
	if err != nil {
		return err
	}
	prior, _, err := tr.SamplePrior(samples, fine, seed+1)
	if err != nil {
		return err
	}
	priorPaths := firstCoord(prior, len(fine), 1)
	rows, err := latentsde.CompareMoments(p, fine, priorPaths)
	if err != nil {
		return err
	}
	var maxMean, maxStd float64
	fmt.Printf("learned prior vs OU (%d prior samples, decoded):\n   t     mean  (true)     std  (true)\n", samples)
	for k, r := range rows {
		maxMean, maxStd = math.Max(maxMean, r.MeanErr), math.Max(maxStd, r.StdErrAbs)
		if k%4 == 0 {
			fmt.Printf("%5.2f  %7.4f (%7.4f)  %6.4f (%6.4f)\n", r.T, r.Mean, r.TrueMean, r.Std, r.TrueStd)
		}
	}
	fmt.Printf("max |mean error| %.4f, max |std error| %.4f over t ∈ [%g, %g]\n", maxMean, maxStd, fine[0], fine[len(fine)-1])
	n := len(hist.ELBO)
	if n > 0 {
		fmt.Printf("ELBO: first %.4g, last %.4g (mean of the last %d steps %.4g)\n", hist.ELBO[0], hist.ELBO[n-1], min(n, 20), meanTail(hist.ELBO, 20))
	}
	report := map[string]any{"steps": tr.GlobalStep(), "ou": p, "moments": rows, "max_mean_error": maxMean, "max_std_error": maxStd}
	if n > 0 {
		report["elbo_last"] = hist.ELBO[n-1]
	}
	raw, err := json.MarshalIndent(report, "", " ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(out, "report.json"), raw); err != nil {
		return err
	}
	return latentSDEPlots(tr, data, hist, fine, priorPaths, rows, seed, out)
}

func meanTail(xs []float64, k int) float64 {
	k = min(k, len(xs))
	var s float64
	for _, x := range xs[len(xs)-k:] {
		s += x
	}
	return s / float64(k)
}

func latentSDEPlots(tr *latentsde.Trainer, data latentsde.Data, hist *latentSDEHistory,
	fine []float64, priorPaths [][]float64, rows []latentsde.MomentRow, seed uint64, out string) error {
	ts := data.Ts
	const w, h = 800, 500
	obs := firstCoord(data.Rows(), len(ts), 1)
	figData, err := plotting.Paths("OU training data (observed)", ts, obs[:min(len(obs), 40)], nil)
	if err != nil {
		return err
	}
	// Posterior samples for the first three sequences (or fewer), with their data.
	nFew := min(3, len(obs))
	few := data.Head(nFew)
	post, _, err := tr.SamplePosterior(few, fine, seed+2)
	if err != nil {
		return err
	}
	var lines []plotting.Series
	for i := range nFew {
		lines = append(lines, plotting.Series{Label: fmt.Sprintf("data %d", i), Xs: ts, Ys: obs[i], Points: true, Dashed: true, Color: plotting.PaletteColor(i)})
	}
	figPost, err := plotting.Paths(fmt.Sprintf("posterior samples given %d observed sequences", nFew), fine, firstCoord(post, len(fine), 1), nil, lines...)
	if err != nil {
		return err
	}
	band, err := plotting.QuantileBand("prior 5–95%", priorPaths, 0.05, 0.95)
	if err != nil {
		return err
	}
	trueMean, lo, hi := make([]float64, len(rows)), make([]float64, len(rows)), make([]float64, len(rows))
	for k, r := range rows {
		trueMean[k] = r.TrueMean
		lo[k], hi[k] = r.TrueMean-1.645*r.TrueStd, r.TrueMean+1.645*r.TrueStd
	}
	figPrior, err := plotting.Paths("learned prior samples vs true OU", fine, priorPaths[:min(len(priorPaths), 30)], []plotting.Band{band},
		plotting.Series{Label: "true mean", Xs: fine, Ys: trueMean},
		plotting.Series{Label: "true 5%", Xs: fine, Ys: lo, Dashed: true},
		plotting.Series{Label: "true 95%", Xs: fine, Ys: hi, Dashed: true})
	if err != nil {
		return err
	}
	// The first steps' ELBO is orders of magnitude below the rest: skip the
	// first tenth so the curve is readable, and add a running mean.
	skip := len(hist.Steps) / 10
	xs := make([]float64, 0, len(hist.Steps)-skip)
	for _, s := range hist.Steps[skip:] {
		xs = append(xs, float64(s))
	}
	ys := hist.ELBO[skip:]
	smooth := make([]float64, len(ys))
	for i := range ys {
		lo := max(0, i-19)
		smooth[i] = meanTail(ys[lo:i+1], 20)
	}
	title := "ELBO per sequence"
	if skip > 0 {
		title = fmt.Sprintf("ELBO per sequence (from step %d)", hist.Steps[skip])
	}
	figELBO, err := plotting.Lines(title, "step", "ELBO", plotting.Series{Label: "log-lik − KL", Xs: xs, Ys: ys},
		plotting.Series{Label: "running mean (20 steps)", Xs: xs, Ys: smooth})
	if err != nil {
		return err
	}
	for name, f := range map[string]plotting.Figure{"data.png": figData, "posterior.png": figPost, "prior.png": figPrior, "elbo.png": figELBO} {
		if err := plotting.Save(f, filepath.Join(out, name), w, h); err != nil {
			return err
		}
	}
	fmt.Printf("wrote %s/{checkpoint.bin,history.json,report.json,data.png,posterior.png,prior.png,elbo.png}\n", out)
	return nil
}

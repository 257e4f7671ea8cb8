package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"

	"github.com/gosde/gosde/pkg/latentsde"
)

func init() {
	register("oukl", "KL between two OU SDEs: logqp Monte Carlo vs trapezoid vs closed form", runOUKL)
}

func runOUKL(args []string) error {
	fs := flag.NewFlagSet("oukl", flag.ContinueOnError)
	p := latentsde.ReferenceOUPair
	fs.Float64Var(&p.PriorTheta, "prior-theta", p.PriorTheta, "prior OU mean-reversion rate θp")
	fs.Float64Var(&p.PriorMu, "prior-mu", p.PriorMu, "prior OU mean μp")
	fs.Float64Var(&p.PostTheta, "post-theta", p.PostTheta, "posterior OU mean-reversion rate θq (> 0)")
	fs.Float64Var(&p.PostMu, "post-mu", p.PostMu, "posterior OU mean μq")
	fs.Float64Var(&p.Sigma, "sigma", p.Sigma, "shared diffusion σ (> 0)")
	fs.Float64Var(&p.Z0, "z0", p.Z0, "initial state of both processes")
	t1 := fs.Float64("t1", 1, "end time")
	saves := fs.Int("saves", 100, "number of save times linspace(0, t1, saves) (the trapezoid's grid)")
	paths := fs.Int("paths", 30, "Monte Carlo paths")
	dt := fs.Float64("dt", 1e-3, "Euler–Maruyama step")
	seed := fs.Uint64("seed", 0, "random seed")
	f32 := fs.Bool("float32", false, "solve in float32 (faster) instead of float64")
	asJSON := fs.Bool("json", false, "print one JSON object")
	table := fs.Bool("table", false, "print the convergence table instead: paths 30 … 10^5 at --dt, then dt 1e-2 … 1e-4 at --paths")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := checkFlags(fs, positive("t1", "dt", "post-theta", "sigma"), atLeast(2, "saves", "paths"),
		finite("prior-theta", "prior-mu", "post-mu", "z0")); err != nil {
		return err
	}
	b, err := sequentialBackend()
	if err != nil {
		return err
	}
	cfg := latentsde.OUKLConfig{Pair: p, T1: *t1, Saves: *saves, Paths: *paths, Dt: *dt, Seed: *seed, DType: dtypes.Float64}
	if *f32 {
		cfg.DType = dtypes.Float32
	}
	if *table {
		return ouklTable(b, cfg, *asJSON)
	}
	r, err := latentsde.OUKLCheck(b, cfg)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(r)
	}
	fmt.Printf("OU KL check: prior θ=%g μ=%g, posterior θ=%g μ=%g, σ=%g, z0=%g, t1=%g\n", p.PriorTheta, p.PriorMu, p.PostTheta, p.PostMu, p.Sigma, p.Z0, *t1)
	fmt.Printf("  %d paths, Euler–Maruyama dt=%g (%d steps), %d save times, solve %.3fs\n", r.Paths, r.Dt, r.Steps, *saves, r.Seconds)
	fmt.Printf("  logqp (½∫‖(f−h)/g‖², left point)   %10.4f ± %.4f (standard error)\n", r.Logqp, r.LogqpStderr)
	fmt.Printf("  trapezoid over save times, no ½     %10.4f\n", r.TrapezoidNoHalf)
	fmt.Printf("  trapezoid over save times, with ½   %10.4f\n", r.Trapezoid)
	fmt.Printf("  closed form                          %10.4f\n", r.ClosedForm)
	fmt.Printf("  Euler estimator's expectation at dt  %10.4f (bias %+.4f)\n", r.EulerExpected, r.EulerExpected-r.ClosedForm)
	return nil
}

// ouklTable prints OUKLConvergence over growing path counts and shrinking steps.
func ouklTable(b backends.Backend, cfg latentsde.OUKLConfig, asJSON bool) error {
	rows, err := latentsde.OUKLConvergence(b, cfg, []int{30, 300, 3000, 30000, 100000}, []float64{cfg.Dt})
	if err != nil {
		return err
	}
	more, err := latentsde.OUKLConvergence(b, cfg, []int{cfg.Paths}, []float64{1e-2, 3e-3, 1e-3, 3e-4, 1e-4})
	if err != nil {
		return err
	}
	rows = append(rows, more...)
	if asJSON {
		return json.NewEncoder(os.Stdout).Encode(rows)
	}
	fmt.Printf("| paths | dt | logqp ± SE | closed form | Euler bias (exact) | logqp − closed | z vs Euler expectation | solve s |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Printf("| %d | %g | %.3f ± %.3f | %.3f | %+.3f | %+.3f | %+.2f | %.2f |\n", r.Paths, r.Dt, r.Logqp, r.LogqpStderr, r.ClosedForm,
			r.Bias, r.Error, (r.Logqp-r.EulerExpected)/r.LogqpStderr, r.Seconds)
	}
	return nil
}

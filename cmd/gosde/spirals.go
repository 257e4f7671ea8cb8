package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gosde/gosde/pkg/adjoint"
	"github.com/gosde/gosde/pkg/diffeq"
	"github.com/gosde/gosde/pkg/experiments/spirals"
	"github.com/gosde/gosde/pkg/plotting"
	"github.com/gosde/gosde/pkg/progress"
)

func init() {
	register("spirals", "latent ODE on irregularly observed spirals: train, plot, held-out extrapolation RMSE", runSpirals)
}

func runSpirals(args []string) error {
	fs := flag.NewFlagSet("spirals", flag.ContinueOnError)
	out := fs.String("out", "spirals_out", "output directory (checkpoint spirals.ckpt, PNG figures); an existing checkpoint is resumed")
	iters := fs.Int("iters", 2000, "total training steps (a resumed run continues up to this)")
	batch := fs.Int("batch", 32, "spirals per training step")
	method := fs.String("method", "direct", "gradient method: direct (backprop through the solver) or adjoint")
	solver := fs.String("solver", "rk4", "ODE solver: euler, midpoint, rk4 (fixed steps) or dopri5 (adaptive)")
	substeps := fs.Int("substeps", 1, "fixed solver steps per interval between grid points")
	lr := fs.Float64("lr", 1e-3, "Adam learning rate")
	n := fs.Int("spirals", 1000, "number of spirals generated (10% held out)")
	seed := fs.Uint64("seed", 1, "random seed")
	saveEvery := fs.Int("save-every", 100, "checkpoint every this many steps (and at the end)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := checkFlags(fs, atLeast(1, "iters", "batch", "substeps"), atLeast(10, "spirals"), positive("lr")); err != nil {
		return err
	}
	if *saveEvery < 1 {
		return fmt.Errorf("--save-every must be ≥ 1, got %d", *saveEvery)
	}
	if *method != string(adjoint.Direct) && *method != string(adjoint.Adjoint) {
		return fmt.Errorf("--method must be direct or adjoint, got %q", *method)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	b, err := sequentialBackend()
	if err != nil {
		return err
	}
	cfg := spirals.Config{
		Iters: *iters, Batch: *batch, LR: *lr, Seed: *seed,
		Solver:     spirals.SolverConfig{Method: adjoint.Method(*method), Solver: diffeq.Method(*solver), Substeps: *substeps},
		Checkpoint: filepath.Join(*out, "spirals.ckpt"),
		SaveEvery:  *saveEvery,
	}
	cfg.Data.N = *n
	res, err := spirals.Setup(b, cfg)
	if err != nil {
		return err
	}
	if res.Resumed > 0 {
		fmt.Printf("resumed from %s at step %d\n", res.Config.Checkpoint, res.Resumed)
	}
	bar := progress.NewWriter("spirals", *iters, os.Stderr)
	res.Config.OnStep = bar.Update
	err = res.Fit()
	bar.Done()
	if err != nil {
		return err
	}
	steps := res.Learner.Steps() - res.Resumed
	if steps > 0 {
		fmt.Printf("trained %d steps in %.1fs (%.2f s/step, batch %d, %s, %s)\n", steps, res.TrainTime.Seconds(),
			res.TrainTime.Seconds()/float64(steps), *batch, *method, *solver)
	}
	if err := spiralsFigures(res, *out); err != nil {
		return err
	}
	ev, err := spirals.Evaluate(res.Learner, res.HeldOut, *seed)
	if err != nil {
		return err
	}
	fmt.Println(ev)
	return nil
}

// spiralsFigures writes the reconstruction grid, the homotopy and the loss
// curve of this run to out.
func spiralsFigures(res *spirals.Result, out string) error {
	idx := make([]int, 0, 9)
	for i := 0; i < 9 && i < res.HeldOut.Len(); i++ {
		// Spread over the held-out set, so both directions appear.
		idx = append(idx, i*res.HeldOut.Len()/9)
	}
	grid, err := spirals.ReconstructionGrid(res.Learner, res.HeldOut, idx, 50, 200)
	if err != nil {
		return err
	}
	files := []string{filepath.Join(out, "spirals_reconstruction.png")}
	if err := plotting.Save(grid, files[0], 1200, 1200); err != nil {
		return err
	}
	if cw, ccw := spirals.FirstOfEach(res.HeldOut); cw >= 0 && ccw >= 0 {
		h, err := spirals.HomotopyGrid(res.Learner, res.HeldOut, cw, ccw, 50, 200, 10)
		if err != nil {
			return err
		}
		files = append(files, filepath.Join(out, "spirals_homotopy.png"))
		if err := plotting.Save(h, files[len(files)-1], 1500, 600); err != nil {
			return err
		}
	}
	if len(res.Losses) > 1 {
		lp, err := spirals.LossPlot(res.Losses, res.Resumed)
		if err != nil {
			return err
		}
		files = append(files, filepath.Join(out, "spirals_loss.png"))
		if err := plotting.Save(lp, files[len(files)-1], 700, 450); err != nil {
			return err
		}
	}
	fmt.Printf("figures: %s\n", strings.Join(files, ", "))
	return nil
}

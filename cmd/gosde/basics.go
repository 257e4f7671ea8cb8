package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"gonum.org/v1/plot"

	"github.com/gosde/gosde/pkg/experiments/basics"
	"github.com/gosde/gosde/pkg/plotting"
	"github.com/gosde/gosde/pkg/progress"
)

func init() {
	register("basics", "neural ODE basics: learn a linear and a nonlinear 2-D field from one noisy trajectory", runBasics)
}

func runBasics(args []string) error {
	fs := flag.NewFlagSet("basics", flag.ContinueOnError)
	out := fs.String("out", "basics_out", "output directory for the figures")
	linSteps := fs.Int("linear-steps", 500, "training steps of the linear model")
	mlpSteps := fs.Int("mlp-steps", 3000, "training steps of the MLP model")
	plotEvery := fs.Int("plot-every", 0, "save a figure every N steps (0: only the final one)")
	gif := fs.Bool("gif", false, "also write an animated GIF of the figures (needs --plot-every)")
	seed := fs.Uint64("seed", 1, "random seed")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := checkFlags(fs, atLeast(1, "linear-steps", "mlp-steps"), atLeast(0, "plot-every")); err != nil {
		return err
	}
	if *gif && *plotEvery == 0 {
		return fmt.Errorf("--gif needs --plot-every > 0 (the GIF's frames)")
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	b, err := sequentialBackend()
	if err != nil {
		return err
	}
	runs := []struct {
		sys   basics.System
		steps int
	}{{basics.LinearSpiral(), *linSteps}, {basics.NonlinearSpiral(), *mlpSteps}}
	for _, r := range runs {
		var frames []plotting.Figure
		bar := progress.NewWriter("basics "+r.sys.Name, r.steps, os.Stderr)
		cfg := basics.Config{System: r.sys, Steps: r.steps, Seed: *seed, PlotEvery: *plotEvery,
			OnStep: bar.Update,
			OnPlot: func(step int, fig *plot.Plot) {
				frames = append(frames, fig)
				path := filepath.Join(*out, fmt.Sprintf("basics_%s_step%05d.png", r.sys.Name, step))
				if err := plotting.Save(fig, path, 600, 600); err != nil {
					fmt.Fprintln(os.Stderr, "gosde basics:", err)
				}
			}}
		res, err := basics.Run(b, cfg)
		bar.Done()
		if err != nil {
			return fmt.Errorf("%s: %w", r.sys.Name, err)
		}
		fig, err := basics.TrajectoryPlot(fmt.Sprintf("%s field, %s model, %d steps", r.sys.Name, res.Config.Model, r.steps), res.Data, res.Pred)
		if err != nil {
			return err
		}
		path := filepath.Join(*out, "basics_"+r.sys.Name+".png")
		if err := plotting.Save(fig, path, 600, 600); err != nil {
			return err
		}
		if *gif && len(frames) > 0 {
			if err := plotting.SaveGIF(filepath.Join(*out, "basics_"+r.sys.Name+".gif"), frames, 480, 480, 200*time.Millisecond); err != nil {
				return err
			}
		}
		fmt.Printf("%s: %s model, %d steps in %.1fs, figure %s\n", r.sys.Name, res.Config.Model, r.steps, res.Duration.Seconds(), path)
		if res.Config.Model == basics.Linear {
			a := res.A
			fmt.Printf("  learned A = [[%.3f, %.3f], [%.3f, %.3f]]  (true [[-0.1, -1], [1, -0.1]])\n", a[0], a[1], a[2], a[3])
		}
		fmt.Printf("  final trajectory rmse %.4f\n", res.TrajRMSE)
	}
	return nil
}

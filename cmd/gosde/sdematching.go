package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/gosde/gosde/pkg/latentsde"
	"github.com/gosde/gosde/pkg/plotting"

	"github.com/gosde/gosde/internal/atomicfile"
)

func init() {
	register("sdematching", "SDE Matching vs the stochastic adjoint: held-out fit against training time (OU or Lorenz data)", runSDEMatching)
}

func runSDEMatching(args []string) error {
	fs := flag.NewFlagSet("sdematching", flag.ContinueOnError)
	data := fs.String("data", "ou", "data set: ou or lorenz")
	out := fs.String("out", "sdematching_out", "output directory (curves.json, fit.png, prior.png)")
	paths := fs.Int("paths", 128, "training sequences (the batch of every step); as many are held out")
	seconds := fs.Float64("seconds", 60, "training wall time per method")
	evals := fs.Int("evals", 10, "held-out evaluations per method")
	samples := fs.Int("samples", 500, "prior paths per evaluation")
	shards := fs.Int("shards", 0, "the adjoint's row blocks trained concurrently (0: one per CPU on the pure-Go backend, 1 on XLA)")
	seed := fs.Uint64("seed", 1, "random seed (data, weights, noise)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *evals < 1 || *samples < 2 || !(*seconds > 0) {
		return errors.New("--evals must be ≥ 1, --samples ≥ 2, --seconds > 0")
	}
	cfg, err := latentsde.ComparePreset(*data, *paths, *seconds, *seed)
	if err != nil {
		return fmt.Errorf("--data: %w", err)
	}
	cfg.Evals, cfg.Samples = *evals, *samples
	b, err := sequentialBackend()
	if err != nil {
		return err
	}
	if *shards == 0 {
		*shards = 1
		if strings.Contains(b.Name(), "(go)") {
			*shards = runtime.NumCPU()
		}
	}
	cfg.AdjointShards = *shards
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	fmt.Printf("%s: %d training / %d held-out sequences, %.0f s of training per method, backend %s\n", *data, *paths, *paths, *seconds, b.Name())
	res, err := latentsde.CompareMethods(b, cfg)
	if err != nil {
		return err
	}
	for _, c := range []latentsde.Curve{res.Matching, res.Adjoint} {
		fmt.Printf("%-19s %5d steps, %7.1f ms/step; held-out NLL per value:", c.Method, c.Steps[len(c.Steps)-1], 1000*c.SecondsPerStep)
		for i := range c.NLL {
			fmt.Printf(" %.3f@%.0fs", c.NLL[i], c.Seconds[i])
		}
		fmt.Println()
		if c.Moments != nil {
			fmt.Printf("%-19s prior vs OU: max |mean error| %.1f%%, max |std error| %.1f%% of the true std\n", "", 100*c.MaxRelMeanErr, 100*c.MaxRelStdErr)
		}
	}
	if res.ReferenceNLL != 0 {
		fmt.Printf("held-out NLL per value under the true OU marginals: %.3f\n", res.ReferenceNLL)
	}
	if !res.Reached {
		fmt.Println("SDE Matching did not reach the adjoint's final held-out NLL")
	} else {
		fmt.Printf("SDE Matching reached the adjoint's final held-out NLL after %.1f s: %.1fx less training time\n", res.ReachSeconds, res.Ratio)
	}
	raw, err := json.MarshalIndent(res, "", " ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(*out, "curves.json"), raw); err != nil {
		return err
	}
	fit, prior, err := latentsde.ComparisonFigures(res, cfg.HeldOut)
	if err != nil {
		return err
	}
	for name, f := range map[string]plotting.Figure{"fit.png": fit, "prior.png": prior} {
		if err := plotting.Save(f, filepath.Join(*out, name), 800, 500); err != nil {
			return err
		}
	}
	fmt.Printf("wrote %s/{curves.json,fit.png,prior.png}\n", *out)
	return nil
}

package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/bench"
)

func init() {
	register("bench", "speed benchmarks against torchsde/torchdiffeq anchors (one line per row)", runBench)
}

func runBench(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	rows := fs.String("rows", "all", "comma-separated rows to run: "+strings.Join(bench.Names(), ","))
	repeats := fs.Int("repeats", 3, "timed repetitions per row (median, min, max reported)")
	reusePlan := fs.Int("reuse-plan", 0, "direct rows with Dopri5: training steps that may reuse the last host solve's steps while they meet the tolerance (adjoint.TrainerConfig.ReusePlan; 0: plan every step)")
	warmup := fs.Int("warmup", 3, "untimed runs before timing (compilation happens there)")
	shards := fs.Int("shards", 0, "SDE rows: split the batch over this many goroutines (0: number of CPUs on the pure-Go backend, 1 otherwise)")
	chunk := fs.Int("chunk", 0, "SDE rows: solver steps per executable call (0: diffeq's default)")
	noise := fs.String("noise", "auto", "SDE rows: where the Brownian increments are drawn: host, graph (from a counter-based key), or auto (graph on accelerators, host on CPUs)")
	cfg := fs.String("backend", "", "backend configuration as in GOMLX_BACKEND (default: $GOMLX_BACKEND, else the pure-Go backend)")
	asJSON := fs.Bool("json", false, "print one JSON object per row instead of a line")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := checkFlags(fs, atLeast(1, "repeats"), atLeast(0, "warmup", "shards", "chunk", "reuse-plan")); err != nil {
		return err
	}
	selected, err := bench.Select(*rows)
	if err != nil {
		return err
	}
	conf := *cfg
	if conf == "" {
		conf = backend.Config()
	}
	b, err := backend.NewWithConfig(conf)
	if err != nil {
		return err
	}
	defer b.Finalize()
	o := bench.Options{Repeats: *repeats, Warmup: *warmup, Shards: *shards, Chunk: *chunk, ReusePlan: *reusePlan, Noise: *noise}
	if *warmup == 0 {
		o.Warmup = -1
	}
	if !*asJSON {
		fmt.Printf("# backend %s (%s), fast float32 kernels on the pure-Go backend: %v\n", conf, b.Description(), backend.FastKernels())
	}
	enc := json.NewEncoder(os.Stdout)
	for _, row := range selected {
		if row.Run == nil {
			if *asJSON {
				_ = enc.Encode(map[string]string{"row": row.Name, "unavailable": row.Unavailable})
			} else {
				fmt.Printf("%-8s %s | %s | not available: %s\n", row.Name, row.Work, row.Setting, row.Unavailable)
			}
			continue
		}
		res, err := runRow(row, conf, o)
		if err != nil {
			return fmt.Errorf("row %s: %w", row.Name, err)
		}
		if *asJSON {
			if err := enc.Encode(res); err != nil {
				return err
			}
		} else {
			fmt.Println(res)
		}
	}
	return nil
}

// runRow runs one row on a backend of its own, released afterwards, so
// that buffers a row leaves pooled in the backend do not count against the
// next row's memory or slow its garbage collection.
func runRow(row bench.Row, conf string, o bench.Options) (*bench.Result, error) {
	b, err := backend.NewWithConfig(conf)
	if err != nil {
		return nil, err
	}
	defer func() {
		b.Finalize()
		runtime.GC()
	}()
	return bench.RunRow(row, b, o)
}

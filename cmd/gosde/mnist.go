package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/gomlx/gomlx/backends"

	"github.com/gosde/gosde/pkg/adjoint"
	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/datasets/mnist"
	"github.com/gosde/gosde/pkg/diffeq"
	"github.com/gosde/gosde/pkg/odenet"
)

func init() {
	register("mnist", "train and test the ODE-Net (or ResNet) MNIST classifier of Chen et al. 2018", runMNIST)
}

// quickLimit is the largest --train-limit that selects the quick-run settings.
const quickLimit = 5000

// mnistQuick are the quick runs' settings: flag name and value.
var mnistQuick = []struct{ name, value string }{
	{"solver", string(diffeq.Euler)}, {"steps", "1"}, {"batch", "2"}, {"optimizer", "sgd"}, {"lr", "0.01"},
}

// mnistBytesPerImage is the memory one image of a training batch takes:
// peak RSS grew by 546 MB from batch 32 to batch 256 (ODE-Net, RK4, 2
// steps, float32), 2.4 MB per image. The stem's 26×26×64 activations and
// their gradients dominate, so the figure hardly depends on the model or
// the steps.
const mnistBytesPerImage = 2.5e6

// checkBatchMemory refuses a batch whose estimated memory exceeds the
// memory available (MemAvailable on Linux; no check where it is unknown),
// before anything is allocated.
func checkBatchMemory(batch int) error {
	avail, ok := availableMemory()
	need := float64(batch) * mnistBytesPerImage
	if ok && need > float64(avail) {
		return fmt.Errorf("--batch %d needs about %.1f GB (%.1f MB per image), more than the %.1f GB of memory available: use a smaller --batch",
			batch, need/1e9, mnistBytesPerImage/1e6, float64(avail)/1e9)
	}
	return nil
}

// availableMemory returns MemAvailable from /proc/meminfo in bytes.
func availableMemory() (uint64, bool) {
	raw, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			var kb uint64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err == nil {
				return kb * 1024, true
			}
		}
	}
	return 0, false
}

// mnistDataDir names the data directory in messages.
func mnistDataDir(dir string) string {
	if dir == "" {
		return "(the GoMNIST module's data/)"
	}
	return dir
}

func runMNIST(args []string) error {
	fs := flag.NewFlagSet("mnist", flag.ContinueOnError)
	model := fs.String("model", odenet.ODENet, "classifier: odenet or resnet")
	solver := fs.String("solver", string(diffeq.RK4), "ODE block solver: euler, midpoint, rk4 or dopri5 (fixed steps in-graph; adaptive with --method)")
	method := fs.String("method", "", "gradient method: empty (default) unrolls --steps fixed steps in the training graph; "+
		"direct (backprop through the host-chosen unrolled solve, RK-Net) or adjoint (continuous adjoint, O(1) memory) solve with adjoint.Trainer")
	rtol := fs.Float64("rtol", 1e-3, "Dopri5 relative tolerance (with --method)")
	atol := fs.Float64("atol", 1e-3, "Dopri5 absolute tolerance (with --method)")
	shards := fs.Int("shards", 0, "with --method: row blocks of each batch trained concurrently (0: one per CPU on the pure-Go backend, 1 on XLA)")
	steps := fs.Int("steps", 2, "solver steps over [0, 1] (ODE-Net)")
	epochs := fs.Int("epochs", 1, "training epochs")
	batch := fs.Int("batch", 128, "training batch size")
	evalBatch := fs.Int("eval-batch", 500, "evaluation batch size")
	lr := fs.Float64("lr", 0, "learning rate (0: 1e-3 for adam, 0.1 for sgd)")
	opt := fs.String("optimizer", "adam", "optimizer: adam, or sgd (with momentum 0.9, as the reference)")
	trainLimit := fs.Int("train-limit", 0, "train on the first N training images only (0: all 60,000)")
	testLimit := fs.Int("test-limit", 0, "test on the first N test images only (0: all 10,000)")
	data := fs.String("data", "", "directory with the four MNIST IDX files (.gz or raw); default: the GoMNIST module's data/")
	out := fs.String("out", "", "directory for checkpoints; a run with the same --out resumes")
	ckptEvery := fs.Int("checkpoint-every", 100, "steps between checkpoints")
	seed := fs.Uint64("seed", 0, "initialisation and shuffling seed")
	progress := fs.Bool("progress", true, "show the progress bar")
	// Quick runs (at most quickLimit training images) get settings found to
	// learn fastest from few images, for every flag the user did not set:
	// one Euler step, batch 2, SGD with momentum 0.9 at lr 0.01
	// (docs/bench/mnist.md). -h shows them beside each flag's default.
	for _, q := range mnistQuick {
		fs.Lookup(q.name).Usage += fmt.Sprintf(" [quick runs, --train-limit 1…%d: %s unless set]", quickLimit, q.value)
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := checkFlags(fs, atLeast(1, "steps", "epochs", "batch", "eval-batch", "checkpoint-every"), positive("rtol", "atol"),
		atLeast(0, "lr", "train-limit", "test-limit", "shards")); err != nil {
		return err
	}
	if *trainLimit > 0 && *trainLimit <= quickLimit {
		set := flagsSet(fs)
		for _, q := range mnistQuick {
			if !set[q.name] {
				if err := fs.Set(q.name, q.value); err != nil {
					return err
				}
			}
		}
		fmt.Printf("quick run (--train-limit ≤ %d): solver %s, %d steps, batch %d, %s lr %g unless set\n",
			quickLimit, *solver, *steps, *batch, *opt, *lr)
	}
	if err := checkBatchMemory(*batch); err != nil {
		return err
	}
	name, err := odenet.ParseModel(*model)
	if err != nil {
		return fmt.Errorf("--model: %w", err)
	}
	cfg := odenet.Config{Model: name, Method: diffeq.Method(*solver), Steps: *steps}
	if err := cfg.Validate(); err != nil {
		return err
	}
	var grad adjoint.Method
	switch *method {
	case "", "ingraph":
	case string(adjoint.Direct), string(adjoint.Adjoint):
		grad = adjoint.Method(*method)
		if _, err := odenet.SolverOptions(cfg, *rtol, *atol); err != nil {
			return fmt.Errorf("--method %s: %w", *method, err)
		}
	default:
		return fmt.Errorf("--method %q: want direct or adjoint (or empty for the in-graph fixed-step solve)", *method)
	}
	b, err := backend.New()
	if err != nil {
		return err
	}
	t0 := time.Now()
	trainSet, testSet, err := mnist.Load(*data, *data == "")
	if err != nil {
		return err
	}
	trainSet, testSet = trainSet.Subset(*trainLimit), testSet.Subset(*testLimit)
	if trainSet.N == 0 || testSet.N == 0 {
		return fmt.Errorf("--data %q: the training set has %d images and the test set %d: both must hold at least one", mnistDataDir(*data), trainSet.N, testSet.N)
	}
	params, err := odenet.ParamCount(b, odenet.NewContext(*seed), cfg)
	if err != nil {
		return err
	}
	if grad == "" {
		fmt.Printf("model: %s, %d parameters (%.2fM)\n", cfg, params, float64(params)/1e6)
	} else {
		so, _ := odenet.SolverOptions(cfg, *rtol, *atol)
		desc := fmt.Sprintf("%s, %d fixed steps", so.Method, cfg.Steps)
		if so.Method == diffeq.Dopri5 {
			desc = fmt.Sprintf("adaptive dopri5, rtol %g atol %g", so.RTol, so.ATol)
		}
		fmt.Printf("model: %s (%s, gradients by %s), %d parameters (%.2fM)\n", cfg.Model, desc, grad, params, float64(params)/1e6)
	}
	fmt.Printf("data: %d training, %d test images (loaded in %.1fs); backend: %s\n",
		trainSet.N, testSet.N, time.Since(t0).Seconds(), b.Description())
	res, err := odenet.Train(b, cfg, trainSet, testSet, odenet.Options{
		Epochs: *epochs, Batch: *batch, EvalBatch: *evalBatch, LR: *lr, Optimizer: *opt, Seed: *seed,
		OutDir: *out, CheckpointEvery: *ckptEvery, Progress: *progress, Log: os.Stdout,
		Grad: grad, RTol: *rtol, ATol: *atol, Shards: mnistShards(*shards, b),
	})
	if err != nil {
		return err
	}
	if res.StepsRun > 0 {
		fmt.Printf("trained %d steps (global step %d) in %.1fs: %.1f images/s, train loss (last epoch) %.4f, NFE per batch forward %d backward %d\n",
			res.StepsRun, res.Steps, res.TrainSeconds, res.TrainImagesSec, res.TrainLoss, res.NFEForward, res.NFEBackward)
	} else {
		fmt.Printf("already trained to global step %d (checkpoint in %s)\n", res.Steps, *out)
	}
	fmt.Printf("evaluated %d test images in %.1fs: %.1f images/s, test loss %.4f\n",
		testSet.N, res.EvalSeconds, res.EvalImagesSec, res.TestLoss)
	fmt.Printf("test accuracy %.2f%%\n", 100*res.TestAccuracy)
	return nil
}

// mnistShards returns the --shards value: n if set, else one per CPU on
// the pure-Go backend and 1 on others (XLA uses every core itself).
func mnistShards(n int, b backends.Backend) int {
	if n > 0 {
		return n
	}
	if strings.Contains(b.Name(), "(go)") {
		return runtime.NumCPU()
	}
	return 1
}

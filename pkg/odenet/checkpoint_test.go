package odenet

import (
	"errors"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/gosde/gosde/internal/checkpoint"
	"github.com/gosde/gosde/internal/testfiles"
	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/diffeq"
)

// TestResumeOtherModelRefused trains a ResNet for 2 steps with checkpoints,
// then asks for the default ODE-Net (and for an ODE-Net with other solver
// steps) in the same directory: both are refused with errors naming the
// stored and the requested model, and every file stays byte for byte. The
// ResNet's checkpoint carries its loss history, whose last-epoch mean is
// Result.TrainLoss.
func TestResumeOtherModelRefused(t *testing.T) {
	set := fixedSet(t, 8)
	b := backend.MustNew()
	dir := t.TempDir()
	opts := Options{Epochs: 1, Batch: 4, Seed: 3, OutDir: dir, CheckpointEvery: 1, Keep: 5}
	res, err := Train(b, Config{Model: ResNet}, set, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	before := testfiles.Snapshot(t, dir)
	if len(before) != 2 {
		t.Fatalf("files after 2 steps with a checkpoint every step: %v", before)
	}
	id, _ := CheckpointIdentity(Config{Model: ResNet, Method: diffeq.Euler, Steps: 9}) // solver fields do not matter for a ResNet
	ck, err := checkpoint.LoadLatest(dir, id)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Step != 2 || ck.History.Len() != 2 || ck.History.Steps[1] != 2 {
		t.Fatalf("checkpoint step %d, history steps %v; want 2 and [1 2]", ck.Step, ck.History.Steps)
	}
	loss := ck.History.Column("loss")
	if mean := (loss[0] + loss[1]) / 2; math.Abs(mean-res.TrainLoss) > 1e-6*math.Abs(mean) {
		t.Errorf("history's mean loss %g, Result.TrainLoss %g", mean, res.TrainLoss)
	}

	for _, cfg := range []Config{DefaultConfig(), {Model: ODENet, Method: diffeq.RK4, Steps: 3}} {
		opts.Epochs = 2
		_, err = Train(b, cfg, set, nil, opts)
		if !errors.Is(err, checkpoint.ErrMismatch) {
			t.Fatalf("%s over a ResNet checkpoint: %v, want a refusal", cfg, err)
		}
		for _, want := range []string{`"resnet"`, `"odenet"`, dir, `"Steps":`} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %s", err, want)
			}
		}
		testfiles.Unchanged(t, dir, before)
	}

	// The same ResNet resumes, keeps the earlier files and adds its own.
	opts.Epochs = 2
	res, err = Train(b, Config{Model: ResNet}, set, nil, opts)
	if err != nil || res.ResumedFrom != 2 || res.Steps != 4 {
		t.Fatalf("ResNet resume: %+v, %v", res, err)
	}
	after := testfiles.Snapshot(t, dir)
	for name := range before {
		if _, ok := after[name]; !ok {
			t.Errorf("resume deleted %s", name)
		}
	}
	if ck, err = checkpoint.LoadLatest(dir, id); err != nil || ck.Step != 4 || ck.History.Len() != 4 {
		t.Fatalf("after resume: %v, %v", ck, err)
	}
}

// TestFlippedBitRefused flips one bit in a weight of the latest checkpoint:
// the resume is refused with an error naming the file.
func TestFlippedBitRefused(t *testing.T) {
	set := fixedSet(t, 4)
	b := backend.MustNew()
	dir := t.TempDir()
	cfg := Config{Model: ODENet, Method: diffeq.Euler, Steps: 1}
	opts := Options{Epochs: 1, Batch: 4, Seed: 3, OutDir: dir}
	if _, err := Train(b, cfg, set, nil, opts); err != nil {
		t.Fatal(err)
	}
	paths, _ := checkpoint.List(dir)
	if len(paths) != 1 {
		t.Fatalf("checkpoints %v", paths)
	}
	raw, _ := os.ReadFile(paths[0])
	raw[len(raw)/2] ^= 0x04 // inside the variables' bytes
	if err := os.WriteFile(paths[0], raw, 0o644); err != nil {
		t.Fatal(err)
	}
	opts.Epochs = 2
	_, err := Train(b, cfg, set, nil, opts)
	if !errors.Is(err, checkpoint.ErrCorrupt) || !strings.Contains(err.Error(), paths[0]) {
		t.Fatalf("resume from a flipped bit: %v", err)
	}
}

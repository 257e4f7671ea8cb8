package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gosde/gosde/internal/checkpoint"
	"github.com/gosde/gosde/internal/testfiles"
)

// TestResumeRefused: the issue-15 cases through the command. A ResNet run's
// directory resumed with the default model (it trained a fresh ODE-Net and
// deleted the ResNet checkpoints) and a spirals checkpoint given to
// latentsde are refused in one line naming both models, and every file
// stays; a ragged history.json does not stop a latentsde resume, which
// rewrites it from the checkpoint.
func TestResumeRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("trains three small models")
	}
	data := t.TempDir()
	writeMNIST(t, data, 4, 2)
	out := t.TempDir()
	mn := filepath.Join(out, "mn")
	base := []string{"mnist", "--data", data, "--batch", "2", "--eval-batch", "2", "--out", mn, "--progress=false"}
	if _, stderr, code := gosde(t, nil, append(base, "--model", "resnet")...); code != 0 {
		t.Fatalf("resnet run: status %d: %s", code, stderr)
	}
	before := testfiles.Snapshot(t, mn)
	args := append(base, "--epochs", "2")
	_, stderr, code := gosde(t, nil, args...)
	wantOneLineError(t, args, stderr, code, `"resnet"`, `"odenet"`, mn, "nothing was changed or deleted")
	testfiles.Unchanged(t, mn, before)

	sp, ls := filepath.Join(out, "sp"), filepath.Join(out, "ls")
	if _, stderr, code := gosde(t, nil, "spirals", "--iters", "2", "--spirals", "20", "--batch", "2", "--out", sp); code != 0 {
		t.Fatalf("spirals run: status %d: %s", code, stderr)
	}
	raw, err := os.ReadFile(filepath.Join(sp, "spirals.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(ls, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ls, "checkpoint.bin"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	before = testfiles.Snapshot(t, ls)
	lsArgs := []string{"latentsde", "--paths", "2", "--steps", "2", "--samples", "4", "--out", ls}
	_, stderr, code = gosde(t, nil, lsArgs...)
	wantOneLineError(t, lsArgs, stderr, code, `"latentode-spirals"`, `"latentsde"`)
	testfiles.Unchanged(t, ls, before)

	// A latentsde run, then a ragged history.json: the resume ignores it and
	// writes the checkpoint's history (3 rows after one more step).
	ls2 := filepath.Join(out, "ls2")
	lsArgs[len(lsArgs)-1] = ls2
	if _, stderr, code := gosde(t, nil, lsArgs...); code != 0 {
		t.Fatalf("latentsde run: status %d: %s", code, stderr)
	}
	hist := filepath.Join(ls2, "history.json")
	if err := os.WriteFile(hist, []byte(`{"steps":[1,2],"loss":[1],"elbo":[1,2,3]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	lsArgs[4] = "3" // --steps 3
	if _, stderr, code := gosde(t, nil, lsArgs...); code != 0 {
		t.Fatalf("latentsde resume over a ragged history.json: status %d: %s", code, stderr)
	}
	h, err := checkpoint.ReadHistory(hist)
	if err != nil || h.Len() != 3 || h.Steps[2] != 3 {
		t.Fatalf("history.json after the resume: %+v, %v", h, err)
	}
}

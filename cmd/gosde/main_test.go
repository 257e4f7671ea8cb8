package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gosde/gosde/pkg/datasets/mnist"
)

// The test binary doubles as the gosde command: run with GOSDE_TEST_MAIN=1
// it runs runMain on its arguments, so the tests check exit statuses and
// the exact output of the real command.
func TestMain(m *testing.M) {
	if os.Getenv("GOSDE_TEST_MAIN") == "1" {
		os.Exit(runMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func init() {
	// A subcommand that panics, to check the top-level recover.
	register("test-panic", "panics (tests only)", func([]string) error { panic("boom\nsecond line") })
}

// gosde runs the command in a temporary directory with extra environment
// variables and returns its stdout, stderr and exit status.
func gosde(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(append(os.Environ(), "GOSDE_TEST_MAIN=1"), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("gosde %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// wantOneLineError checks exit status 1 and a single stderr line holding
// every want, with no goroutine dump.
func wantOneLineError(t *testing.T, args []string, stderr string, code int, wants ...string) {
	t.Helper()
	if code != 1 {
		t.Errorf("gosde %v: exit status %d, want 1 (stderr %q)", args, code, stderr)
	}
	if lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n"); len(lines) != 1 || !strings.HasSuffix(stderr, "\n") {
		t.Errorf("gosde %v: stderr has %d lines, want one: %q", args, len(lines), stderr)
	}
	if strings.Contains(stderr, "goroutine") {
		t.Errorf("gosde %v: stderr holds a goroutine dump: %q", args, stderr)
	}
	for _, w := range wants {
		if !strings.Contains(stderr, w) {
			t.Errorf("gosde %v: stderr %q does not mention %q", args, stderr, w)
		}
	}
}

func commandNames() []string {
	var names []string
	for n := range commands {
		if n != "test-panic" {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// TestHelp checks that -h and --help exit 0 in every subcommand and print
// the usage with every flag on stdout, and that `gosde mnist -h` shows the
// quick runs' values beside the flags they replace.
func TestHelp(t *testing.T) {
	for _, name := range commandNames() {
		for _, h := range []string{"-h", "--help"} {
			stdout, stderr, code := gosde(t, nil, name, h)
			if code != 0 || stderr != "" {
				t.Errorf("gosde %s %s: exit status %d, stderr %q; want 0 and nothing", name, h, code, stderr)
			}
			if !strings.HasPrefix(stdout, "usage: gosde "+name+" [flags]") || !strings.Contains(stdout, "(default ") {
				t.Errorf("gosde %s %s: stdout %q lacks the usage line or the defaults", name, h, stdout)
			}
		}
	}
	stdout, _, code := gosde(t, nil, "help")
	if code != 0 || !strings.Contains(stdout, "adjoint ") || !strings.Contains(stdout, "latentsde ") {
		t.Errorf("gosde help: exit status %d, stdout %q", code, stdout)
	}
	stdout, _, _ = gosde(t, nil, "mnist", "-h")
	for _, q := range mnistQuick {
		if !strings.Contains(stdout, "quick runs, --train-limit 1…5000: "+q.value+" unless set") {
			t.Errorf("gosde mnist -h does not show the quick runs' --%s %s", q.name, q.value)
		}
	}
}

// TestBadBackend checks that a backend GoMLX does not know is one line on
// stderr and exit status 1 in every subcommand (it was a goroutine dump).
func TestBadBackend(t *testing.T) {
	for _, name := range commandNames() {
		args := []string{name}
		if name == "sdematching" {
			args = append(args, "--seconds", "1")
		}
		_, stderr, code := gosde(t, []string{"GOMLX_BACKEND=bogus"}, args...)
		wantOneLineError(t, args, stderr, code, `GOMLX_BACKEND="bogus"`, "can't find backend")
	}
}

// TestBadFlags checks that flags set to values that make no sense are
// refused with the flag, the value and what is expected, before any work,
// rather than replaced by defaults (spirals --iters 0 trained 2000 steps,
// oukl --t1 0 solved to t1 = 1).
func TestBadFlags(t *testing.T) {
	for _, c := range []struct {
		args  []string
		wants []string
	}{
		{[]string{"spirals", "--iters", "0"}, []string{"--iters 0: want a value ≥ 1"}},
		{[]string{"oukl", "--t1", "0"}, []string{"--t1 0: want a value > 0"}},
		{[]string{"oukl", "--dt", "-1e-3"}, []string{"--dt -0.001: want a value > 0"}},
		{[]string{"oukl", "--paths", "1"}, []string{"--paths 1: want a value ≥ 2"}},
		{[]string{"latentsde", "--obs-noise", "0"}, []string{"--obs-noise 0: want a value > 0"}},
		{[]string{"latentsde", "--paths", "0"}, []string{"--paths 0"}},
		{[]string{"mnist", "--epochs", "0"}, []string{"--epochs 0: want a value ≥ 1"}},
		{[]string{"mnist", "--checkpoint-every", "0"}, []string{"--checkpoint-every 0"}},
		{[]string{"basics", "--mlp-steps", "0"}, []string{"--mlp-steps 0"}},
		{[]string{"basics", "--gif"}, []string{"--gif needs --plot-every"}},
		{[]string{"demo", "--dt", "NaN"}, []string{"--dt NaN: want a value > 0"}},
		{[]string{"bench", "--repeats", "0"}, []string{"--repeats 0"}},
		{[]string{"adjoint", "--hidden", "0"}, []string{"--hidden 0"}},
		{[]string{"oukl", "--no-such-flag"}, []string{"flag provided but not defined: -no-such-flag", "gosde oukl -h"}},
		{[]string{"oukl", "stray"}, []string{`unexpected arguments ["stray"]`}},
		{[]string{"no-such-command"}, []string{`unknown command "no-such-command"`}},
		{[]string{"test-panic"}, []string{"gosde test-panic: internal error: boom second line"}},
	} {
		_, stderr, code := gosde(t, nil, c.args...)
		wantOneLineError(t, c.args, stderr, code, c.wants...)
	}
	// Refused before allocation, with the estimate (where the memory
	// available is known: Linux's /proc/meminfo).
	if _, ok := availableMemory(); ok {
		args := []string{"mnist", "--batch", "1000000"}
		_, stderr, code := gosde(t, nil, args...)
		wantOneLineError(t, args, stderr, code, "--batch 1000000 needs about 2500.0 GB (2.5 MB per image)", "GB of memory available")
	}
}

// TestTinyDt checks that a step so small that span/dt overflows an int is
// an error naming dt (it printed "-9223372036854775808 steps" and KL 0).
func TestTinyDt(t *testing.T) {
	args := []string{"oukl", "--dt", "1e-300", "--paths", "2"}
	_, stderr, code := gosde(t, nil, args...)
	wantOneLineError(t, args, stderr, code, "dt=1e-300")
}

// writeMNIST writes the four raw IDX files with nTrain and nTest images
// (pixel values and labels from a simple pattern) into dir.
func writeMNIST(t *testing.T, dir string, nTrain, nTest int) {
	t.Helper()
	for _, f := range []struct {
		name string
		n    int
	}{{mnist.TrainImagesFile, nTrain}, {mnist.TrainLabelsFile, nTrain}, {mnist.TestImagesFile, nTest}, {mnist.TestLabelsFile, nTest}} {
		dims := []int{f.n}
		if strings.Contains(f.name, "images") {
			dims = append(dims, 28, 28)
		}
		size := 1
		for _, d := range dims {
			size *= d
		}
		data := make([]uint8, size)
		for i := range data {
			data[i] = uint8((i * 7) % 10)
		}
		var buf bytes.Buffer
		if err := mnist.EncodeIDX(&buf, dims, data); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, strings.TrimSuffix(f.name, ".gz")), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMNISTEmptyTestSet checks that an empty test set is an error (it
// printed "test accuracy NaN%" and exited 0).
func TestMNISTEmptyTestSet(t *testing.T) {
	dir := t.TempDir()
	writeMNIST(t, dir, 4, 0)
	args := []string{"mnist", "--data", dir, "--batch", "2"}
	_, stderr, code := gosde(t, nil, args...)
	wantOneLineError(t, args, stderr, code, "the test set 0")
}

// wantPlain checks that redirected output holds no carriage return and no
// escape code (progress bars degrade to plain lines).
func wantPlain(t *testing.T, what, s string) {
	t.Helper()
	if i := strings.IndexAny(s, "\r\x1b"); i >= 0 {
		t.Errorf("%s holds a control character at byte %d: %q", what, i, s[max(0, i-40):min(len(s), i+40)])
	}
}

// TestRedirectedRuns runs tiny trainings with output to pipes: no escape
// codes or carriage returns, progress as plain lines; and latentsde with
// one path (it panicked after training).
func TestRedirectedRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("trains three small models")
	}
	dir := t.TempDir()
	writeMNIST(t, dir, 8, 4)
	out := t.TempDir()
	for _, c := range []struct {
		args     []string
		progress string // a plain progress line on stdout or stderr
	}{
		{[]string{"mnist", "--data", dir, "--batch", "2", "--steps", "1", "--solver", "euler", "--eval-batch", "4"}, "step 4/4: loss"},
		{[]string{"latentsde", "--paths", "1", "--steps", "3", "--samples", "10", "--out", filepath.Join(out, "ls")}, "latentsde [########################] 100% 3/3 · loss"},
		{[]string{"spirals", "--iters", "2", "--spirals", "20", "--batch", "2", "--out", filepath.Join(out, "sp")}, "spirals [########################] 100% 2/2 · loss"},
	} {
		stdout, stderr, code := gosde(t, nil, c.args...)
		if code != 0 {
			t.Errorf("gosde %v: exit status %d, stderr %q", c.args, code, stderr)
			continue
		}
		wantPlain(t, "stdout of "+c.args[0], stdout)
		wantPlain(t, "stderr of "+c.args[0], stderr)
		if !strings.Contains(stdout+stderr, c.progress) {
			t.Errorf("gosde %v: no progress line %q in stdout %q / stderr %q", c.args, c.progress, stdout, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "ls", "posterior.png")); err != nil {
		t.Errorf("latentsde --paths 1: %v", err)
	}
}

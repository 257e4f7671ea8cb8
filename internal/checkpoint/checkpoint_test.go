package checkpoint

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

type testConfig struct {
	Hidden []int
	Dt     float64
	Name   string
}

// testCheckpoint returns a small checkpoint of a context with a float32
// matrix, an int64 scalar and a uint64 vector, and a 3-row history.
func testCheckpoint(t testing.TB) (*Checkpoint, *context.Context) {
	t.Helper()
	ctx := context.New()
	ctx.In("enc").VariableWithValue("w", [][]float32{{1, -2, 3}, {4.5, 5, 6}})
	ctx.VariableWithValue("global_step", int64(30)).SetTrainable(false)
	ctx.VariableWithValue("rng", []uint64{1, 1 << 63, 7}).SetTrainable(false)
	id, err := NewIdentity("latentsde", testConfig{Hidden: []int{8, 8}, Dt: 0.05, Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	h := NewHistory("loss", "kl")
	for s, v := range []float64{3, 2, math.NaN()} {
		if err := h.Append(10*(s+1), v, -v); err != nil {
			t.Fatal(err)
		}
	}
	ck, err := Snapshot(ctx, id, 30, h)
	if err != nil {
		t.Fatal(err)
	}
	return ck, ctx
}

// TestRoundTrip writes a checkpoint, reads it back, re-encodes it to the
// same bytes and restores its variables into a fresh context with the
// original values, dtypes and trainable flags.
func TestRoundTrip(t *testing.T) {
	ck, _ := testCheckpoint(t)
	path := filepath.Join(t.TempDir(), "a.ckpt")
	if err := Write(path, ck); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if !bytes.HasPrefix(raw, []byte(Magic)) {
		t.Fatalf("file starts with %q", raw[:8])
	}
	got, err := Load(path, ck.Identity)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Encode(got)
	if err != nil || !bytes.Equal(again, raw) {
		t.Fatalf("re-encoding differs (%d vs %d bytes, %v)", len(again), len(raw), err)
	}
	if got.Step != 30 || got.Kind != "latentsde" || string(got.Config) != `{"Dt":0.05,"Hidden":[8,8],"Name":"x"}` {
		t.Fatalf("step %d kind %q config %s", got.Step, got.Kind, got.Config)
	}
	if !slices.Equal(got.History.Steps, []int{10, 20, 30}) || got.History.Column("loss")[1] != 2 ||
		got.History.Column("kl")[0] != -3 || !math.IsNaN(got.History.Column("loss")[2]) {
		t.Fatalf("history %+v", got.History)
	}
	dst := context.New()
	if err := got.Restore(dst); err != nil {
		t.Fatal(err)
	}
	w := dst.GetVariableByScopeAndName("/enc", "w")
	gs := dst.GetVariableByScopeAndName("/", "global_step")
	rng := dst.GetVariableByScopeAndName("/", "rng")
	if w == nil || gs == nil || rng == nil {
		t.Fatal("restored variables missing")
	}
	if v := tensors.MustCopyFlatData[float32](w.MustValue()); !slices.Equal(v, []float32{1, -2, 3, 4.5, 5, 6}) || !w.Trainable {
		t.Errorf("w = %v trainable %v", v, w.Trainable)
	}
	if v := tensors.MustCopyFlatData[int64](gs.MustValue()); v[0] != 30 || gs.Trainable {
		t.Errorf("global_step = %v trainable %v", v, gs.Trainable)
	}
	if v := tensors.MustCopyFlatData[uint64](rng.MustValue()); !slices.Equal(v, []uint64{1, 1 << 63, 7}) {
		t.Errorf("rng = %v", v)
	}
}

// TestEveryBitFlipRefused flips each bit of a checkpoint file in turn: every
// one is refused with an error wrapping ErrCorrupt (the checksum covers all
// bytes; a flip inside the checksum itself no longer matches either).
func TestEveryBitFlipRefused(t *testing.T) {
	ck, _ := testCheckpoint(t)
	raw, err := Encode(ck)
	if err != nil {
		t.Fatal(err)
	}
	for i := range len(raw) * 8 {
		bad := bytes.Clone(raw)
		bad[i/8] ^= 1 << (i % 8)
		if _, err := Decode(bad); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("bit %d of byte %d flipped: error %v, want ErrCorrupt", i%8, i/8, err)
		}
	}
	// Through Read, the error names the file.
	path := filepath.Join(t.TempDir(), "flipped.ckpt")
	bad := bytes.Clone(raw)
	bad[len(raw)/2] ^= 0x10
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("Read of a flipped file: %v", err)
	}
	// Every truncation is refused too.
	for n := range len(raw) {
		if _, err := Decode(raw[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
	}
}

// TestMismatchRefused gives a spirals checkpoint to a latent SDE (another
// kind) and to a spirals model of another size: both are refused with an
// error naming the stored and requested kind and configuration, and the
// file is unchanged.
func TestMismatchRefused(t *testing.T) {
	spirals, err := NewIdentity("latentode-spirals", map[string]int{"Latent": 4, "Hidden": 20})
	if err != nil {
		t.Fatal(err)
	}
	ck, _ := testCheckpoint(t)
	ck.Identity = spirals
	path := filepath.Join(t.TempDir(), "spirals.ckpt")
	if err := Write(path, ck); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	sde, _ := NewIdentity("latentsde", testConfig{Hidden: []int{8, 8}, Dt: 0.05})
	_, err = Load(path, sde)
	if !errors.Is(err, ErrMismatch) {
		t.Fatalf("want ErrMismatch, got %v", err)
	}
	for _, want := range []string{path, `"latentode-spirals"`, `"latentsde"`, `{"Hidden":20,"Latent":4}`, `"Dt":0.05`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	bigger, _ := NewIdentity("latentode-spirals", map[string]int{"Hidden": 20, "Latent": 6})
	if _, err := Load(path, bigger); !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), `"Latent":6`) {
		t.Errorf("another configuration: %v", err)
	}
	// Key order and spacing do not matter.
	same, _ := NewIdentity("latentode-spirals", map[string]int{"Hidden": 20, "Latent": 4})
	same.Config = []byte(` { "Latent" : 4, "Hidden":20 } `)
	if _, err := Load(path, same); err != nil {
		t.Errorf("same configuration, other key order: %v", err)
	}
	after, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(before, after) {
		t.Errorf("the refused checkpoint changed or vanished: %v", err)
	}
}

// TestEncodeRefusesInconsistent checks that Encode refuses a checkpoint
// whose history is ragged or goes past its step, or whose variable bytes do
// not fill the shape.
func TestEncodeRefusesInconsistent(t *testing.T) {
	ck, _ := testCheckpoint(t)
	ragged := *ck
	ragged.History = ck.History.Clone()
	ragged.History.Columns[1].Values = ragged.History.Columns[1].Values[:2]
	if _, err := Encode(&ragged); err == nil || !strings.Contains(err.Error(), `"kl" has 2 values for 3 steps`) {
		t.Errorf("ragged history: %v", err)
	}
	ahead := *ck
	ahead.Step = 29
	if _, err := Encode(&ahead); err == nil || !strings.Contains(err.Error(), "past the checkpoint's step 29") {
		t.Errorf("history past the step: %v", err)
	}
	short := *ck
	short.Vars = slices.Clone(ck.Vars)
	short.Vars[0].Data = short.Vars[0].Data[:5]
	if _, err := Encode(&short); err == nil || !strings.Contains(err.Error(), "5 bytes") {
		t.Errorf("short variable: %v", err)
	}
}

// TestSeries keeps 2 of the checkpoints it writes, never touches the files
// of an earlier run, refuses to replace one, and LoadLatest picks the
// highest step (and refuses a damaged newest file without falling back).
func TestSeries(t *testing.T) {
	dir := t.TempDir()
	ck, _ := testCheckpoint(t)
	// An earlier run's checkpoints at steps 5 and 30.
	old := *ck
	old.History = History{}
	for _, s := range []int{5, 30} {
		old.Step = s
		if err := Write(filepath.Join(dir, seriesName(s)), &old); err != nil {
			t.Fatal(err)
		}
	}
	got, err := LoadLatest(dir, ck.Identity)
	if err != nil || got.Step != 30 {
		t.Fatalf("LoadLatest: %v, %v", got, err)
	}
	s := &Series{Dir: dir, Keep: 2}
	next := *ck
	next.Step = 30
	if _, err := s.Save(&next); err == nil || !strings.Contains(err.Error(), "not written by this run") {
		t.Fatalf("replacing an earlier run's file: %v", err)
	}
	for _, step := range []int{40, 50, 60, 60} {
		next.Step = step
		if _, err := s.Save(&next); err != nil {
			t.Fatal(err)
		}
	}
	paths, _ := List(dir)
	var names []string
	for _, p := range paths {
		names = append(names, filepath.Base(p))
	}
	want := []string{seriesName(5), seriesName(30), seriesName(50), seriesName(60)}
	if !slices.Equal(names, want) {
		t.Fatalf("files %v, want %v", names, want)
	}
	if got, err := LoadLatest(dir, ck.Identity); err != nil || got.Step != 60 {
		t.Fatalf("LoadLatest: %v, %v", got, err)
	}
	raw, _ := os.ReadFile(paths[3])
	raw[100] ^= 1
	_ = os.WriteFile(paths[3], raw, 0o644)
	if _, err := LoadLatest(dir, ck.Identity); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), paths[3]) {
		t.Fatalf("damaged newest: %v", err)
	}
	if ck, err := LoadLatest(filepath.Join(dir, "none"), ck.Identity); ck != nil || err != nil {
		t.Fatalf("missing directory: %v, %v", ck, err)
	}
}

package latentsde

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gosde/gosde/internal/checkpoint"
)

// TestCheckpointHistory: the history a checkpoint carries is exactly the
// figures the steps returned; a resumed trainer continues it; a model of
// another configuration, or a damaged file, is refused and the file stays.
func TestCheckpointHistory(t *testing.T) {
	cfg := Config{DataDim: 1, LatentDim: 1, ContextDim: 2, Hidden: []int{8}, EncoderHidden: 4, DiffusionHidden: 2, Dt: 0.25, ObsScale: 0.1}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	data := ouData(t, 4, []float64{0, 0.5, 1})
	tc := TrainConfig{LearningRate: 1e-2, Schedule: ConstantKL(1), Seed: 5}
	tr, err := NewTrainer(testBackend(), nil, m, tc)
	if err != nil {
		t.Fatal(err)
	}
	var stats []StepStats
	for range 3 {
		st, err := tr.Step(data)
		if err != nil {
			t.Fatal(err)
		}
		stats = append(stats, st)
	}
	path := filepath.Join(t.TempDir(), "ck.bin")
	if err := tr.Save(path); err != nil {
		t.Fatal(err)
	}
	tr2, _ := NewTrainer(testBackend(), nil, m, tc)
	if err := tr2.Load(path); err != nil {
		t.Fatal(err)
	}
	h := tr2.History()
	if !slices.Equal(h.Steps, []int{1, 2, 3}) {
		t.Fatalf("history steps %v", h.Steps)
	}
	for i, st := range stats {
		if h.Column("loss")[i] != st.Loss || h.Column("kl")[i] != st.KL || h.Column("elbo")[i] != st.LogLik-st.KL {
			t.Errorf("row %d: history %v/%v/%v, step returned %+v", i, h.Column("loss")[i], h.Column("kl")[i], h.Column("elbo")[i], st)
		}
	}
	if _, err := tr2.Step(data); err != nil {
		t.Fatal(err)
	}
	if h := tr2.History(); h.Len() != 4 || h.Steps[3] != 4 {
		t.Errorf("resumed history %v", h.Steps)
	}

	before, _ := os.ReadFile(path)
	bigger := cfg
	bigger.LatentDim = 2
	m3, _ := New(bigger)
	tr3, _ := NewTrainer(testBackend(), nil, m3, tc)
	err = tr3.Load(path)
	if !errors.Is(err, checkpoint.ErrMismatch) || !strings.Contains(err.Error(), `"LatentDim":1`) || !strings.Contains(err.Error(), `"LatentDim":2`) {
		t.Fatalf("another configuration: %v", err)
	}
	if tr3.GlobalStep() != 0 || tr3.History().Len() != 0 {
		t.Errorf("a refused Load changed the trainer: step %d", tr3.GlobalStep())
	}
	bad := slices.Clone(before)
	bad[len(bad)-40] ^= 0x80
	_ = os.WriteFile(path, bad, 0o644)
	if err := tr3.Load(path); !errors.Is(err, checkpoint.ErrCorrupt) || !strings.Contains(err.Error(), path) {
		t.Fatalf("flipped bit: %v", err)
	}
}

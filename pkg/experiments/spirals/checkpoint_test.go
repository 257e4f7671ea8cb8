package spirals

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gosde/gosde/internal/checkpoint"
	data "github.com/gosde/gosde/pkg/datasets/spirals"
	"github.com/gosde/gosde/pkg/latentsde"
)

// TestCheckpointIdentity: a spirals checkpoint carries the losses the
// steps returned; given to a latent SDE trainer it is refused with an error
// naming both kinds, and the file is unchanged.
func TestCheckpointIdentity(t *testing.T) {
	d := smallData(t, 16)
	dt := d.Ts[1] - d.Ts[0]
	l := newSmall(t, SolverConfig{}, dt)
	rng := rand.New(rand.NewPCG(4, 4))
	b, _ := d.Sample(rng, 4, data.SampleOptions{Span: 10, Keep: []int{10}})
	var losses []float64
	for range 2 {
		loss, err := l.Step(b, nil)
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, loss)
	}
	path := filepath.Join(t.TempDir(), "spirals.ckpt")
	if err := l.Save(path); err != nil {
		t.Fatal(err)
	}
	l2 := newSmall(t, SolverConfig{}, dt)
	if err := l2.Load(path); err != nil {
		t.Fatal(err)
	}
	h := l2.History()
	if h.Len() != 2 || h.Steps[1] != 2 || h.Column("loss")[0] != losses[0] || h.Column("loss")[1] != losses[1] {
		t.Fatalf("history %+v, losses %v", h, losses)
	}

	before, _ := os.ReadFile(path)
	m, err := latentsde.New(latentsde.Config{DataDim: 2, LatentDim: 4, ContextDim: 4, Hidden: []int{8}})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := latentsde.NewTrainer(testBackend(t), nil, m, latentsde.TrainConfig{})
	if err != nil {
		t.Fatal(err)
	}
	err = tr.Load(path)
	if !errors.Is(err, checkpoint.ErrMismatch) || !strings.Contains(err.Error(), `"latentode-spirals"`) || !strings.Contains(err.Error(), `"latentsde"`) {
		t.Fatalf("spirals checkpoint given to latentsde: %v", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("the refused checkpoint changed")
	}
}

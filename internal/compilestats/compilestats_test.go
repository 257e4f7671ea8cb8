package compilestats_test

import (
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/gosde/gosde/internal/compilestats"
	"github.com/gosde/gosde/pkg/backend"
)

// TestCountsOneExecutablePerShape checks the counter against GoMLX's
// caching rule: an Exec compiles once per distinct input shape, so three
// calls with two shapes compile two executables, and the results are those
// of the unwrapped backend.
func TestCountsOneExecutablePerShape(t *testing.T) {
	inner, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Finalize()
	b := compilestats.Wrap(inner)
	if compilestats.Wrap(b) != b {
		t.Fatal("Wrap of a *Backend must return it unchanged")
	}
	if compilestats.Wrap(nil) != nil {
		t.Fatal("Wrap(nil) must be nil")
	}
	if b.Name() != inner.Name() {
		t.Fatalf("Name %q, want the inner backend's %q", b.Name(), inner.Name())
	}
	e, err := graph.NewExec(b, func(x *graph.Node) *graph.Node { return graph.MulScalar(x, 3) })
	if err != nil {
		t.Fatal(err)
	}
	defer e.Finalize()
	if s := b.Stats(); s.Executables != 0 {
		t.Fatalf("%d executables before any call, want 0 (compilation is lazy)", s.Executables)
	}
	for i, in := range [][]float64{{1, 2}, {4, 5}, {1, 2, 3}} {
		out, err := e.Exec(tensors.FromValue(in))
		if err != nil {
			t.Fatal(err)
		}
		got := out[0].Value().([]float64)
		for j := range in {
			if got[j] != 3*in[j] {
				t.Fatalf("call %d: out[%d] = %g, want %g", i, j, got[j], 3*in[j])
			}
		}
	}
	s := b.Stats()
	if s.Executables != 2 {
		t.Fatalf("%d executables after calls with shapes (2), (2), (3): want 2", s.Executables)
	}
	if !(s.Seconds > 0) {
		t.Fatalf("compile seconds %g, want > 0", s.Seconds)
	}
	if d := s.Sub(compilestats.Stats{Executables: 1, Seconds: s.Seconds}); d.Executables != 1 || d.Seconds != 0 {
		t.Fatalf("Sub gave %+v, want {1 0}", d)
	}
}

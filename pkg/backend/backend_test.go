package backend

import (
	"math"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph"
)

// TestConfiguredBackend runs a matmul and an MLP gradient on the backend that
// New picks (GOMLX_BACKEND, else the embedded one), against values computed in Go.
// Run it with GOMLX_BACKEND=xla:/abs/path/plugin.so to check a PJRT plugin.
func TestConfiguredBackend(t *testing.T) {
	b, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("backend %q: %s", b.Name(), b.Description())
	a := [][]float32{{1, 2, 3}, {4, 5, 6}}
	m := [][]float32{{1, -1}, {0.5, 2}, {-3, 0.25}}
	exec := MustNewExec(b, func(x, w *Node) (*Node, *Node) {
		y := Dot(x, w)
		loss := ReduceAllSum(Tanh(y))
		return y, Gradient(loss, w)[0]
	})
	outs, err := exec.Exec(a, m)
	if err != nil {
		t.Fatal(err)
	}
	y := outs[0].Value().([][]float32)
	gw := outs[1].Value().([][]float32)
	for i := range 2 {
		for j := range 2 {
			var want float64
			for k := range 3 {
				want += float64(a[i][k] * m[k][j])
			}
			if math.Abs(float64(y[i][j])-want) > 1e-5 {
				t.Errorf("matmul[%d][%d] = %g, want %g", i, j, y[i][j], want)
			}
		}
	}
	// d/dw Σ tanh(a·w) = aᵀ (1 - tanh²(a·w)).
	for k := range 3 {
		for j := range 2 {
			var want float64
			for i := range 2 {
				var s float64
				for l := range 3 {
					s += float64(a[i][l] * m[l][j])
				}
				th := math.Tanh(s)
				want += float64(a[i][k]) * (1 - th*th)
			}
			if math.Abs(float64(gw[k][j])-want) > 1e-4 {
				t.Errorf("grad[%d][%d] = %g, want %g", k, j, gw[k][j], want)
			}
		}
	}
}

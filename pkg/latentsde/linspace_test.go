package latentsde

import (
	"math"
	"strings"
	"testing"
)

// TestLinspace checks the values (ends exact, even spacing) and that bad
// arguments give an error naming them instead of a makeslice panic.
func TestLinspace(t *testing.T) {
	got, err := Linspace(0, 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []float64{0, 0.5, 1, 1.5, 2} {
		if math.Abs(got[i]-want) > 1e-15 {
			t.Errorf("Linspace(0, 2, 5)[%d] = %g, want %g", i, got[i], want)
		}
	}
	if one, err := Linspace(3, 7, 1); err != nil || len(one) != 1 || one[0] != 3 {
		t.Errorf("Linspace(3, 7, 1) = %v, %v; want [3]", one, err)
	}
	for _, c := range []struct {
		lo, hi float64
		n      int
		want   string
	}{{0, 2, -3, "n must be ≥ 1, got -3"}, {0, 2, 0, "n must be ≥ 1, got 0"}, {math.NaN(), 2, 3, "finite"}, {0, math.Inf(1), 3, "finite"}} {
		if _, err := Linspace(c.lo, c.hi, c.n); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Linspace(%g, %g, %d): error %v, want one mentioning %q", c.lo, c.hi, c.n, err, c.want)
		}
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(error).Error(), "n must be ≥ 1") {
			t.Errorf("MustLinspace(0, 2, -3) panicked with %v", r)
		}
	}()
	MustLinspace(0, 2, -3)
}

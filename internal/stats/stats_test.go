package stats

import (
	"math"
	"testing"
)

// MeanVar of 1..5: mean 3, unbiased variance 10/4 = 2.5.
func TestMeanVar(t *testing.T) {
	m, v := MeanVar([]float64{1, 2, 3, 4, 5})
	if math.Abs(m-3) > 1e-15 || math.Abs(v-2.5) > 1e-15 {
		t.Fatalf("MeanVar = %g, %g; want 3, 2.5", m, v)
	}
}

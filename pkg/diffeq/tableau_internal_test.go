package diffeq

import (
	"math"
	"testing"
)

// TestTableauConditions checks the published coefficients against the
// conditions they satisfy: each row of A sums to its node c, the weights
// integrate polynomials exactly up to the method's order (Σ bᵢcᵢ^k = 1/(k+1)),
// the error weights sum to 0, and Σ bᵢ aᵢⱼ = bⱼ(1 − cⱼ) (the column condition
// Tsit5 and DOP853 are built on, for the stages it holds).
func TestTableauConditions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tb    *erkTableau
		order int
	}{{"dopri5", dopri5Tableau, 5}, {"tsit5", tsit5Tableau, 5}, {"bosh3", bosh3Tableau, 3}, {"dopri8", dopri8Tableau, 8}} {
		tb := tc.tb
		for i, row := range tb.a {
			var sum float64
			for _, v := range row {
				sum += v
			}
			if math.Abs(sum-tb.c[i]) > 1e-14 {
				t.Errorf("%s: row %d of A sums to %.17g, c = %.17g", tc.name, i, sum, tb.c[i])
			}
		}
		for k := range tc.order {
			var q float64
			for i, b := range tb.b {
				q += b * math.Pow(tb.c[i], float64(k))
			}
			if math.Abs(q-1/float64(k+1)) > 1e-13 {
				t.Errorf("%s: Σ b c^%d = %.17g, want 1/%d", tc.name, k, q, k+1)
			}
		}
		var se float64
		for _, e := range tb.e {
			se += e
		}
		if math.Abs(se) > 1e-13 {
			t.Errorf("%s: error weights sum to %g, want 0", tc.name, se)
		}
	}
	for i, x := range dop853Extra {
		var sum float64
		for _, v := range x.a {
			sum += v
		}
		if math.Abs(sum-x.c) > 1e-14 {
			t.Errorf("dopri8 dense stage %d: row sums to %.17g, c = %g", 14+i, sum, x.c)
		}
	}
}

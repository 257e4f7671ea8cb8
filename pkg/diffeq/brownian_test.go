package diffeq_test

import (
	"math"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"

	"github.com/gosde/gosde/pkg/diffeq"

	"github.com/gosde/gosde/internal/stats"
)

func newBM(t *testing.T, seed uint64, cell float64, batch, m int) *diffeq.Brownian {
	t.Helper()
	bm, err := diffeq.NewBrownian(seed, 0, 1, cell, batch, m, dtypes.Float64)
	if err != nil {
		t.Fatal(err)
	}
	return bm
}

// TestBrownianVariance checks that increments over grid-aligned and
// unaligned intervals are N(0, length): mean within 3 SE, variance within 3
// SE (var·√(2/(n−1))).
func TestBrownianVariance(t *testing.T) {
	bm := newBM(t, 1, 1.0/64, 5000, 4)
	for _, iv := range [][2]float64{{0, 1.0 / 64}, {0.25, 0.5}, {0.1, 0.1003}, {0.3, 0.77}, {0.0131, 0.0139}, {-0.5, 1.5}} {
		x := bm.Increment(iv[0], iv[1])
		mean, v := stats.MeanVar(x)
		want := iv[1] - iv[0]
		n := float64(len(x))
		if se := math.Sqrt(want / n); math.Abs(mean) > 3*se {
			t.Errorf("interval %v: mean %g, want 0 ± %g", iv, mean, 3*se)
		}
		if se := want * math.Sqrt(2/(n-1)); math.Abs(v-want) > 3*se {
			t.Errorf("interval %v: variance %g, want %g ± %g", iv, v, want, 3*se)
		}
	}
}

// TestBrownianBridgeIndependence checks that increments over the two halves
// of an unaligned interval are uncorrelated (a Brownian motion's increments
// are independent), within 3 SE of the sample correlation (1/√n).
func TestBrownianBridgeIndependence(t *testing.T) {
	bm := newBM(t, 11, 0.1, 20000, 1)
	a, b := bm.Increment(0.013, 0.041), bm.Increment(0.041, 0.0777)
	var sab, saa, sbb float64
	for i := range a {
		sab, saa, sbb = sab+a[i]*b[i], saa+a[i]*a[i], sbb+b[i]*b[i]
	}
	if r := sab / math.Sqrt(saa*sbb); math.Abs(r) > 3/math.Sqrt(float64(len(a))) {
		t.Errorf("correlation of adjacent increments %g, want 0 ± %g", r, 3/math.Sqrt(float64(len(a))))
	}
}

// TestBrownianReproducible checks that re-queried intervals, in another
// order and from another Brownian with the same seed, give identical values,
// and that another seed gives other values.
func TestBrownianReproducible(t *testing.T) {
	ivs := [][2]float64{{0.5, 0.75}, {0.1, 0.2}, {0.123, 0.456}, {0.9, 0.95}, {0.3, 0.3001}}
	first := newBM(t, 3, 0.05, 8, 3)
	var want [][]float64
	for _, iv := range ivs {
		want = append(want, first.Increment(iv[0], iv[1]))
	}
	second := newBM(t, 3, 0.05, 8, 3)
	for i := len(ivs) - 1; i >= 0; i-- {
		_ = second.Increment(0.6, 0.61)
		got := second.Increment(ivs[i][0], ivs[i][1])
		for j := range got {
			if got[j] != want[i][j] {
				t.Fatalf("interval %v element %d: %g then %g", ivs[i], j, want[i][j], got[j])
			}
		}
	}
	other := newBM(t, 4, 0.05, 8, 3).Increment(0.5, 0.75)
	if other[0] == want[0][0] {
		t.Errorf("seeds 3 and 4 gave the same increment %g", other[0])
	}
	// Reversed interval is the negative.
	back := first.Increment(0.456, 0.123)
	for j := range back {
		if back[j] != -want[2][j] {
			t.Fatalf("Increment(0.456, 0.123)[%d] = %g, want %g", j, back[j], -want[2][j])
		}
	}
}

// TestBrownianAdditive checks that increments over sub-intervals (aligned
// and not, across cells) add up to the whole interval's, and that
// Increments agrees with Increment.
func TestBrownianAdditive(t *testing.T) {
	bm := newBM(t, 5, 0.1, 6, 2)
	times := []float64{0.05, 0.1, 0.1234, 0.2, 0.31, 0.3101, 0.5, 0.73, 0.8, 0.95}
	sum := make([]float64, 12)
	incs := bm.Increments(times)
	flat, err := diffeq.Float64s(incs)
	if err != nil {
		t.Fatal(err)
	}
	if dims := incs.Shape().Dimensions; len(dims) != 3 || dims[0] != len(times)-1 || dims[1] != 6 || dims[2] != 2 {
		t.Fatalf("Increments shape %v, want (%d, 6, 2)", dims, len(times)-1)
	}
	for k := 1; k < len(times); k++ {
		x := bm.Increment(times[k-1], times[k])
		for j := range x {
			sum[j] += x[j]
			if x[j] != flat[(k-1)*12+j] {
				t.Fatalf("Increments[%d][%d] = %g, Increment gives %g", k-1, j, flat[(k-1)*12+j], x[j])
			}
		}
	}
	whole := bm.Increment(times[0], times[len(times)-1])
	for j := range whole {
		if math.Abs(sum[j]-whole[j]) > 1e-12 {
			t.Errorf("element %d: sum of sub-intervals %.17g, whole interval %.17g", j, sum[j], whole[j])
		}
	}
}

// TestBrownianCoarseFromFine checks that a coarse-grid Brownian is not what
// the solver tests rely on: querying coarse steps from a fine grid equals
// summing the fine cells.
func TestBrownianCoarseFromFine(t *testing.T) {
	bm := newBM(t, 9, 1.0/256, 3, 1)
	coarse := bm.Increment(0, 1.0/16)
	var sum [3]float64
	for k := 0; k < 16; k++ {
		x := bm.Increment(float64(k)/256, float64(k+1)/256)
		for j := range x {
			sum[j] += x[j]
		}
	}
	for j := range coarse {
		if math.Abs(sum[j]-coarse[j]) > 1e-12 {
			t.Errorf("element %d: %g vs %g", j, sum[j], coarse[j])
		}
	}
}

func TestBrownianErrors(t *testing.T) {
	for _, c := range []struct {
		name         string
		t0, t1, cell float64
		batch, m     int
		dtype        dtypes.DType
		want         string // in the message
	}{
		{"t1<=t0", 1, 1, 0.1, 1, 1, dtypes.Float64, "strictly increasing"},
		{"nan", 0, math.NaN(), 0.1, 1, 1, dtypes.Float64, "not finite"},
		{"cell0", 0, 1, 0, 1, 1, dtypes.Float64, "cellDt"},
		{"cellInf", 0, 1, math.Inf(1), 1, 1, dtypes.Float64, "cellDt"},
		{"batch0", 0, 1, 0.1, 0, 1, dtypes.Float64, "batch"},
		{"int", 0, 1, 0.1, 1, 1, dtypes.Int32, "dtype"},
		// span/cellDt overflows an int: the cell count used to wrap negative.
		{"cell1e-300", 0, 1, 1e-300, 1, 1, dtypes.Float64, "cellDt"},
		// 10¹² cells: positions snap to boundaries, increments vanish.
		{"cell1e-12", 0, 1, 1e-12, 1, 1, dtypes.Float64, "cellDt=1e-12"},
		// Cells narrower than the float64 spacing of the times (2¹⁴ at 1e20).
		{"belowResolution", 1e20, 1e20 + 1<<20, 1000, 1, 1, dtypes.Float64, "resolution"},
		// √h = 3e-51 underflows float32.
		{"float32Underflow", 0, 1e-100, 1e-101, 1, 1, dtypes.Float32, "underflow float32"},
	} {
		_, err := diffeq.NewBrownian(1, c.t0, c.t1, c.cell, c.batch, c.m, c.dtype)
		if err == nil {
			t.Errorf("%s: no error", c.name)
		} else if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not mention %q", c.name, err, c.want)
		}
	}
}

// TestBrownianTinyCells checks the smallest cells still accepted: over
// [0, 1e-100] in float64 (the span float32 refuses) and at the 2²⁸-cell
// limit, the increments are not zero and their variance is the interval's
// length (within 5 standard errors over 4096 samples).
func TestBrownianTinyCells(t *testing.T) {
	for _, c := range []struct{ t1, cell, s, u float64 }{
		{1e-100, 1e-101, 3e-101, 7e-101},
		{1, 1.0 / (1 << 28), 0.5, 0.5 + 3.0/(1<<28)},
	} {
		bm, err := diffeq.NewBrownian(3, 0, c.t1, c.cell, 4096, 1, dtypes.Float64)
		if err != nil {
			t.Fatalf("cell %g: %v", c.cell, err)
		}
		x := bm.Increment(c.s, c.u)
		var v float64
		for _, d := range x {
			v += d * d
		}
		v /= float64(len(x))
		want := c.u - c.s
		if se := want * math.Sqrt(2.0/float64(len(x))); math.Abs(v-want) > 5*se {
			t.Errorf("cell %g: variance of W(%g)−W(%g) is %g, want %g ± %g", c.cell, c.u, c.s, v, want, 5*se)
		}
	}
	if _, err := diffeq.NewBrownian(3, 0, 1, 1.0/(1<<28)*0.99, 1, 1, dtypes.Float64); err == nil {
		t.Error("just over 2²⁸ cells: no error")
	}
}

// BenchmarkBrownianIncrements generates 1000 steps of (4096, 8) float32
// noise, the benchmarks' hot loop.
func BenchmarkBrownianIncrements(b *testing.B) {
	bm, err := diffeq.NewBrownian(1, 0, 1, 1e-3, 4096, 8, dtypes.Float32)
	if err != nil {
		b.Fatal(err)
	}
	times := make([]float64, 1001)
	for i := range times {
		times[i] = float64(i) * 1e-3
	}
	for b.Loop() {
		_ = bm.Increments(times)
	}
}

// TestBrownianNormalTails checks the generator's distribution: the fractions
// of |N| beyond 1, 2, 3 and 3.5 (the ziggurat's tail starts at 3.44) and the
// fourth moment (3) are within 4 standard errors of the normal's.
func TestBrownianNormalTails(t *testing.T) {
	bm := newBM(t, 2, 1, 1<<20, 1)
	x := bm.Increment(0, 1)
	n := float64(len(x))
	var m4 float64
	for _, v := range x {
		m4 += v * v * v * v
	}
	m4 /= n
	if se := math.Sqrt(96 / n); math.Abs(m4-3) > 4*se { // Var(N⁴) = 105 − 9
		t.Errorf("E[N⁴] = %g, want 3 ± %g", m4, 4*se)
	}
	for _, c := range []float64{1, 2, 3, 3.5} {
		p := math.Erfc(c / math.Sqrt2)
		cnt := 0
		for _, v := range x {
			if math.Abs(v) > c {
				cnt++
			}
		}
		if got, se := float64(cnt)/n, math.Sqrt(p*(1-p)/n); math.Abs(got-p) > 4*se {
			t.Errorf("P(|N| > %g) = %g, want %g ± %g", c, got, p, 4*se)
		}
	}
}

// TestBrownianRows checks that a row view gives exactly those rows of the
// full Brownian's increments, on and off the grid.
func TestBrownianRows(t *testing.T) {
	bm := newBM(t, 13, 0.1, 5, 3)
	view, err := bm.Rows(2, 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, iv := range [][2]float64{{0, 0.1}, {0.137, 0.52}} {
		full, part := bm.Increment(iv[0], iv[1]), view.Increment(iv[0], iv[1])
		for i, v := range part {
			if v != full[2*3+i] {
				t.Fatalf("interval %v: view element %d = %g, full row gives %g", iv, i, v, full[2*3+i])
			}
		}
	}
	if _, err := bm.Rows(3, 6); err == nil {
		t.Error("Rows(3, 6) of batch 5: no error")
	}
}

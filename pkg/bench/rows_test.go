package bench

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gomlx/gomlx/backends"

	"github.com/gosde/gosde/pkg/backend"
)

func TestNewStats(t *testing.T) {
	s := NewStats([]float64{3, 1, 2})
	if s.Median != 2 || s.Min != 1 || s.Max != 3 || len(s.Values) != 3 || s.Values[0] != 3 {
		t.Fatalf("NewStats(3,1,2) = %+v", s)
	}
	if s := NewStats([]float64{4, 1, 3, 2}); s.Median != 2.5 {
		t.Fatalf("median of 1..4 = %g, want 2.5", s.Median)
	}
}

func TestSelectAndMet(t *testing.T) {
	rows, err := Select("sde256, oukl")
	if err != nil || len(rows) != 2 || rows[0].Name != "sde256" || rows[1].Name != "oukl" {
		t.Fatalf("Select = %v, %v", rows, err)
	}
	if all, _ := Select(""); len(all) != len(Rows()) {
		t.Fatalf("Select(\"\") gave %d rows", len(all))
	}
	if _, err := Select("sde256,nope"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("Select of an unknown row: %v", err)
	}
	for _, r := range Rows() {
		if (r.Run == nil) == (r.Unavailable == "") {
			t.Fatalf("row %s: Run and Unavailable must be exactly one of set/empty", r.Name)
		}
	}
	fast := &Result{Unit: "path-steps/s", Value: NewStats([]float64{2e6}), Target: 1.1e6}
	slow := &Result{Unit: "s", Value: NewStats([]float64{0.3}), Target: 0.2}
	if !fast.Met() || slow.Met() {
		t.Fatalf("Met: %v %v", fast.Met(), slow.Met())
	}
}

// TestSDEForwardSmallBatch runs the SDE row's workload on a batch of 6 over
// 3 shards: 1000 steps, finite states, a positive throughput.
func TestSDEForwardSmallBatch(t *testing.T) {
	r, err := SDEForward(backend.Shared(), 6, Options{Repeats: 2, Shards: 3})
	if err != nil {
		t.Fatal(err)
	}
	if r.NFE != 1000 || len(r.Value.Values) != 2 || !(r.Value.Min > 0) || math.IsInf(r.Value.Max, 0) {
		t.Fatalf("result %+v", r)
	}
	if !strings.Contains(r.Note, "3 shard") || !strings.Contains(r.String(), "path-steps/s") {
		t.Fatalf("note %q, line %q", r.Note, r.String())
	}
	if _, err := SDEForward(backend.Shared(), 0, Options{}); err == nil {
		t.Fatal("batch 0: no error")
	}
}

// TestRunRowCountsCompilations runs the SDE workload on a batch of 6 over 3
// shards through RunRow: GoMLX compiles one graph that initialises the
// variables, one evaluates the vector fields once (initWeights), and each
// shard compiles two chunk lengths (1000 steps = 62 chunks of 16 and one
// of 8), so 8 executables, all compiled before the first run finishes,
// which is before RunRow returns.
func TestRunRowCountsCompilations(t *testing.T) {
	row := Row{Name: "sde6", Run: func(b backends.Backend, o Options) (*Result, error) { return SDEForward(b, 6, o) }}
	start := time.Now()
	r, err := RunRow(row, backend.Shared(), Options{Repeats: 1, Warmup: 1, Shards: 3})
	wall := time.Since(start).Seconds()
	if err != nil {
		t.Fatal(err)
	}
	if r.Executables != 8 {
		t.Errorf("%d executables compiled, want 8 (variable initialisation, weights, 2 chunk lengths × 3 shards)", r.Executables)
	}
	if !(r.CompileSeconds > 0) || !(r.FirstStepSeconds >= r.CompileSeconds) || !(r.FirstStepSeconds < wall) {
		t.Errorf("compile %g s, first run after %g s, row %g s: want 0 < compile ≤ first < row", r.CompileSeconds, r.FirstStepSeconds, wall)
	}
	if !strings.Contains(r.String(), "compiled 8 executable(s)") {
		t.Errorf("line %q does not report the compilations", r.String())
	}
	if _, err := RunRow(Row{Name: "x", Unavailable: "no block"}, backend.Shared(), Options{}); err == nil || !strings.Contains(err.Error(), "no block") {
		t.Errorf("unavailable row: error %v, want one with the reason", err)
	}
}

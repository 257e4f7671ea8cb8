package diffeq_test

import (
	"math"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/diffeq"
)

// counterNormals runs diffeq.CounterNormals on the shared backend (the one
// GOMLX_BACKEND names) and returns the values as float64s.
func counterNormals(t *testing.T, key *tensors.Tensor, steps, batch, m int, dtype dtypes.DType) []float64 {
	t.Helper()
	e, err := graph.NewExec(backend.Shared(), func(key *graph.Node) *graph.Node {
		return diffeq.CounterNormals(key, steps, batch, m, dtype)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Finalize()
	out, err := e.Exec(key)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{steps, batch, m}; !equalInts(out[0].Shape().Dimensions, want) || out[0].DType() != dtype {
		t.Fatalf("CounterNormals gave %s, want %s %v", out[0].Shape(), dtype, want)
	}
	v, err := diffeq.Float64s(out[0])
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestCounterNormalsMatchHost checks the graph generator element by element
// against the host reference CounterNormal (float64: to rounding; float32:
// to the float32 rounding of log, sqrt and cos on values below 6).
func TestCounterNormalsMatchHost(t *testing.T) {
	const seed, step0, index0, steps, batch, m = 1234567, 11, 6, 5, 7, 3
	for _, tc := range []struct {
		dtype dtypes.DType
		tol   float64
	}{{dtypes.Float64, 1e-12}, {dtypes.Float32, 5e-6}} {
		got := counterNormals(t, diffeq.CounterKey(seed, step0, index0), steps, batch, m, tc.dtype)
		worst := 0.0
		for k := range steps {
			for j := range batch * m {
				want := diffeq.CounterNormal(seed, uint64(step0+k), uint64(index0+j))
				worst = max(worst, math.Abs(got[k*batch*m+j]-want))
			}
		}
		if worst > tc.tol {
			t.Errorf("%s: largest difference from CounterNormal %.3g, want ≤ %g", tc.dtype, worst, tc.tol)
		}
	}
}

// TestCounterNormalsChunksAndShards checks that the normals depend only on
// (seed, step, element): eight steps drawn at once equal three then five,
// and rows 2..5 of a batch of 6 equal a batch of 4 whose key starts at
// element 2·m, bit for bit.
func TestCounterNormalsChunksAndShards(t *testing.T) {
	const seed, batch, m = 99, 6, 2
	for _, dtype := range []dtypes.DType{dtypes.Float32, dtypes.Float64} {
		all := counterNormals(t, diffeq.CounterKey(seed, 0, 0), 8, batch, m, dtype)
		first := counterNormals(t, diffeq.CounterKey(seed, 0, 0), 3, batch, m, dtype)
		rest := counterNormals(t, diffeq.CounterKey(seed, 3, 0), 5, batch, m, dtype)
		joined := append(append([]float64{}, first...), rest...)
		for i := range all {
			if all[i] != joined[i] {
				t.Fatalf("%s: element %d: %g drawn in one chunk, %g in chunks of 3 and 5", dtype, i, all[i], joined[i])
			}
		}
		shard := counterNormals(t, diffeq.CounterKey(seed, 0, 2*m), 8, 4, m, dtype)
		for k := range 8 {
			for j := range 4 * m {
				if a, b := all[k*batch*m+2*m+j], shard[k*4*m+j]; a != b {
					t.Fatalf("%s: step %d element %d: %g in the full batch, %g in the shard", dtype, k, j, a, b)
				}
			}
		}
	}
}

// TestCounterNormalsReproducible checks that a key gives the same numbers
// in two executables and another seed gives different ones.
func TestCounterNormalsReproducible(t *testing.T) {
	a := counterNormals(t, diffeq.CounterKey(7, 100, 0), 4, 16, 2, dtypes.Float32)
	b := counterNormals(t, diffeq.CounterKey(7, 100, 0), 4, 16, 2, dtypes.Float32)
	c := counterNormals(t, diffeq.CounterKey(8, 100, 0), 4, 16, 2, dtypes.Float32)
	same := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("element %d: %g then %g with one key", i, a[i], b[i])
		}
		if a[i] == c[i] {
			same++
		}
	}
	if same > 0 {
		t.Fatalf("seeds 7 and 8 share %d of %d values", same, len(a))
	}
}

// TestCounterIncrementsBrownian checks that the increments are those of a
// Brownian motion on a grid of step dt = 0.01: mean 0, variance dt, fourth
// moment 3dt², sums over 16 steps with variance 16dt, and no correlation
// between consecutive steps, neighbouring paths or components; each within
// 3 standard errors (for a correlation, 3/√n).
func TestCounterIncrementsBrownian(t *testing.T) {
	const steps, batch, m, dt = 64, 512, 4, 0.01
	for _, dtype := range []dtypes.DType{dtypes.Float32, dtypes.Float64} {
		out, err := context.ExecOnce(backend.Shared(), context.New(), func(_ *context.Context, key *graph.Node) *graph.Node {
			h := graph.Scalar(key.Graph(), dtype, dt)
			return diffeq.CounterIncrements(key, h, steps, batch, m)
		}, diffeq.CounterKey(2026, 0, 0))
		if err != nil {
			t.Fatal(err)
		}
		v, err := diffeq.Float64s(out)
		if err != nil {
			t.Fatal(err)
		}
		n := float64(len(v))
		var s1, s2, s4 float64
		for _, x := range v {
			s1 += x
			s2 += x * x
			s4 += x * x * x * x
		}
		mean, vr, m4 := s1/n, s2/n, s4/n
		if se := math.Sqrt(dt / n); math.Abs(mean) > 3*se {
			t.Errorf("%s: mean %.3g, want 0 ± %.3g", dtype, mean, 3*se)
		}
		if se := dt * math.Sqrt(2/n); math.Abs(vr-dt) > 3*se {
			t.Errorf("%s: variance %.5g, want %g ± %.3g", dtype, vr, dt, 3*se)
		}
		// Var(x⁴) = (105 − 9)·dt⁴ for a normal.
		if se := math.Sqrt(96/n) * dt * dt; math.Abs(m4-3*dt*dt) > 3*se {
			t.Errorf("%s: fourth moment %.4g, want %.4g ± %.3g", dtype, m4, 3*dt*dt, 3*se)
		}
		at := func(k, i, c int) float64 { return v[(k*batch+i)*m+c] }
		// Sums over chunks of 16 steps: variance 16·dt.
		var sums []float64
		for k0 := 0; k0 < steps; k0 += 16 {
			for i := range batch {
				for c := range m {
					s := 0.0
					for k := k0; k < k0+16; k++ {
						s += at(k, i, c)
					}
					sums = append(sums, s)
				}
			}
		}
		ns, ss := float64(len(sums)), 0.0
		for _, s := range sums {
			ss += s * s
		}
		if want, se := 16*dt, 16*dt*math.Sqrt(2/ns); math.Abs(ss/ns-want) > 3*se {
			t.Errorf("%s: variance of 16-step sums %.4g, want %.4g ± %.3g", dtype, ss/ns, want, 3*se)
		}
		for _, lag := range []struct {
			name       string
			dk, di, dc int
		}{{"consecutive steps", 1, 0, 0}, {"neighbouring paths", 0, 1, 0}, {"components", 0, 0, 1}} {
			var sxy float64
			cnt := 0
			for k := 0; k+lag.dk < steps; k++ {
				for i := 0; i+lag.di < batch; i++ {
					for c := 0; c+lag.dc < m; c++ {
						sxy += at(k, i, c) * at(k+lag.dk, i+lag.di, c+lag.dc)
						cnt++
					}
				}
			}
			corr := sxy / float64(cnt) / dt
			if lim := 3 / math.Sqrt(float64(cnt)); math.Abs(corr) > lim {
				t.Errorf("%s: correlation of %s %.3g, want 0 ± %.3g", dtype, lag.name, corr, lim)
			}
		}
	}
}

// TestCounterIncrementsStepVector checks per-step sizes: increment k is
// √h_k times the normal of step k.
func TestCounterIncrementsStepVector(t *testing.T) {
	hs := []float64{0.25, 0.01, 4}
	out, err := context.ExecOnce(backend.Shared(), context.New(), func(_ *context.Context, key, h *graph.Node) *graph.Node {
		return diffeq.CounterIncrements(key, h, 3, 2, 1)
	}, diffeq.CounterKey(5, 40, 0), tensors.FromValue(hs))
	if err != nil {
		t.Fatal(err)
	}
	v, err := diffeq.Float64s(out)
	if err != nil {
		t.Fatal(err)
	}
	for k, h := range hs {
		for i := range 2 {
			want := math.Sqrt(h) * diffeq.CounterNormal(5, uint64(40+k), uint64(i))
			if math.Abs(v[k*2+i]-want) > 1e-12 {
				t.Errorf("step %d path %d: %g, want %g", k, i, v[k*2+i], want)
			}
		}
	}
}

// TestCounterNormalsPanics checks that bad arguments panic with a message
// naming them.
func TestCounterNormalsPanics(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		fn         func(g *graph.Graph)
	}{
		{"float key", "key must be a Uint64 (3)", func(g *graph.Graph) {
			diffeq.CounterNormals(graph.Const(g, []float64{1, 2, 3}), 1, 1, 1, dtypes.Float32)
		}},
		{"zero steps", "steps, batch and m must be ≥ 1", func(g *graph.Graph) {
			diffeq.CounterNormals(graph.Const(g, []uint64{1, 2, 3}), 0, 1, 1, dtypes.Float32)
		}},
		{"int dtype", "dtype must be Float32 or Float64", func(g *graph.Graph) {
			diffeq.CounterNormals(graph.Const(g, []uint64{1, 2, 3}), 1, 1, 1, dtypes.Int32)
		}},
		{"h shape", "h must be a float scalar or a (2) vector", func(g *graph.Graph) {
			diffeq.CounterIncrements(graph.Const(g, []uint64{1, 2, 3}), graph.Const(g, []float32{1, 2, 3}), 2, 1, 1)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(strings.ToLower(toString(r)), strings.ToLower(tc.want)) {
					t.Fatalf("panic %v, want one containing %q", r, tc.want)
				}
			}()
			tc.fn(graph.NewGraph(backend.Shared(), "panics"))
		})
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(toString(r), "step0 must be ≥ 0") {
			t.Fatalf("CounterKey(−1): panic %v, want one naming step0", r)
		}
	}()
	diffeq.CounterKey(1, -1, 0)
}

func toString(r any) string {
	if err, ok := r.(error); ok {
		return err.Error()
	}
	if s, ok := r.(string); ok {
		return s
	}
	return ""
}

// TestSDESolverNoiseInGraph solves dz = dW (zero drift, unit diagonal
// diffusion) with Options.NoiseInGraph, whose exact solution is z0 plus the
// sum of the increments √h·CounterNormal(seed, k, i·m+c) of the steps so far;
// it checks every save time against that sum, and that chunks of 4 or 16
// steps, one or two shards, and a second solve all give the same numbers.
func TestSDESolverNoiseInGraph(t *testing.T) {
	const seed, batch, d = 31, 5, 2
	sde := diffeq.SDE{
		Drift:     func(_ *context.Context, _, z *graph.Node) *graph.Node { return graph.ZerosLike(z) },
		Diffusion: func(_ *context.Context, _, z *graph.Node) *graph.Node { return graph.OnesLike(z) },
	}
	ts := []float64{0, 0.3, 1}
	const dt = 0.05
	z0v := make([]float64, batch*d)
	for i := range z0v {
		z0v[i] = float64(i) / 10
	}
	z0 := tensors.FromFlatDataAndDimensions(z0v, batch, d)
	bm, err := diffeq.NewBrownian(seed, 0, 1, dt, batch, d, dtypes.Float64)
	if err != nil {
		t.Fatal(err)
	}
	grid, saveIdx, err := diffeq.SDEGrid(ts, dt)
	if err != nil {
		t.Fatal(err)
	}
	// The exact solution at every grid point.
	want := make([][]float64, len(grid))
	want[0] = z0v
	for k := 1; k < len(grid); k++ {
		want[k] = make([]float64, batch*d)
		h := grid[k] - grid[k-1]
		for j := range want[k] {
			want[k][j] = want[k-1][j] + math.Sqrt(h)*diffeq.CounterNormal(seed, uint64(k-1), uint64(j))
		}
	}
	solve := func(chunk, shards int) [][]float64 {
		s, err := diffeq.NewShardedSDESolver(backend.Shared(), context.New(), sde,
			diffeq.Options{Method: diffeq.EulerMaruyama, Dt: dt, Chunk: chunk, NoiseInGraph: true}, shards)
		if err != nil {
			t.Fatal(err)
		}
		sol, err := s.Solve(z0, ts, bm)
		if err != nil {
			t.Fatal(err)
		}
		if sol.Steps != len(grid)-1 {
			t.Fatalf("%d steps, want %d", sol.Steps, len(grid)-1)
		}
		var out [][]float64
		for _, y := range sol.Ys {
			v, err := diffeq.Float64s(y)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		return out
	}
	ref := solve(4, 1)
	for i, k := range saveIdx {
		for j := range ref[i] {
			if math.Abs(ref[i][j]-want[k][j]) > 1e-12 {
				t.Fatalf("t=%g element %d: %.15g, want the sum of the increments %.15g", ts[i], j, ref[i][j], want[k][j])
			}
		}
	}
	for _, c := range []struct{ chunk, shards int }{{4, 1}, {16, 1}, {3, 2}} {
		got := solve(c.chunk, c.shards)
		for i := range got {
			for j := range got[i] {
				if math.Abs(got[i][j]-ref[i][j]) > 1e-12 {
					t.Fatalf("chunk %d, %d shard(s): t=%g element %d: %.15g, chunk 4 unsharded gave %.15g", c.chunk, c.shards, ts[i], j, got[i][j], ref[i][j])
				}
			}
		}
	}
}

// fakeDevice is a backend that reports another first device.
type fakeDevice struct {
	backends.Backend
	name, dev string
}

func (f fakeDevice) Name() string                                { return f.name }
func (f fakeDevice) DeviceDescription(backends.DeviceNum) string { return f.dev }

// TestPreferNoiseInGraph: in-graph noise is preferred on accelerators only.
func TestPreferNoiseInGraph(t *testing.T) {
	b := backend.Shared()
	for _, tc := range []struct {
		name, dev string
		want      bool
	}{
		{"SimpleGo (go)", "device#0", false},
		{"xla", "cpu:0 [processId=0]", false},
		{"xla", "cuda:0", true},
		{"xla", "gpu:0", true},
	} {
		if got := diffeq.PreferNoiseInGraph(fakeDevice{b, tc.name, tc.dev}); got != tc.want {
			t.Errorf("backend %q with device %q: %v, want %v", tc.name, tc.dev, got, tc.want)
		}
	}
	if diffeq.PreferNoiseInGraph(nil) {
		t.Error("nil backend: true, want false")
	}
	if dev := b.DeviceDescription(0); diffeq.PreferNoiseInGraph(b) != !(strings.HasPrefix(dev, "cpu") || strings.HasPrefix(dev, "device#")) {
		t.Errorf("configured backend %s (device %q): PreferNoiseInGraph %v", b.Name(), dev, diffeq.PreferNoiseInGraph(b))
	}
}

package diffeq_test

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/diffeq"
)

func TestShardSizes(t *testing.T) {
	for _, c := range []struct {
		n, p int
		want []int
	}{{10, 3, []int{4, 3, 3}}, {2, 5, []int{1, 1}}, {8, 1, []int{8}}, {9, 0, []int{9}}} {
		got := diffeq.ShardSizes(c.n, c.p)
		if len(got) != len(c.want) {
			t.Fatalf("ShardSizes(%d, %d) = %v, want %v", c.n, c.p, got, c.want)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Fatalf("ShardSizes(%d, %d) = %v, want %v", c.n, c.p, got, c.want)
			}
		}
	}
}

func TestSplitConcatRows(t *testing.T) {
	data := make([]float32, 3*5*2)
	for i := range data {
		data[i] = float32(i)
	}
	x := tensors.FromFlatDataAndDimensions(data, 3, 5, 2)
	parts, err := diffeq.SplitRows(x, 1, []int{2, 0, 3})
	if err != nil {
		t.Fatal(err)
	}
	// parts[2][o][r][c] == x[o][2+r][c]
	p2 := tensors.MustCopyFlatData[float32](parts[2])
	for o := range 3 {
		for r := range 3 {
			for c := range 2 {
				if got, want := p2[(o*3+r)*2+c], data[(o*5+2+r)*2+c]; got != want {
					t.Fatalf("SplitRows part 2 [%d,%d,%d] = %g, want %g", o, r, c, got, want)
				}
			}
		}
	}
	if _, err := diffeq.SplitRows(x, 1, []int{2, 2}); err == nil {
		t.Fatal("SplitRows with sizes not adding up: no error")
	}
	// Axis 0 round trip, float64.
	y := diffeq.FromFloat64s(dtypes.Float64, []float64{1, 2, 3, 4, 5, 6, 7, 8}, 4, 2)
	rows, err := diffeq.SplitRows(y, 0, []int{1, 3})
	if err != nil {
		t.Fatal(err)
	}
	back, err := diffeq.ConcatRows(rows)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := diffeq.Float64s(back)
	for i, w := range []float64{1, 2, 3, 4, 5, 6, 7, 8} {
		if v[i] != w {
			t.Fatalf("ConcatRows(SplitRows(y)) = %v", v)
		}
	}
	if _, err := diffeq.ConcatRows([]*tensors.Tensor{rows[0], x}); err == nil {
		t.Fatal("ConcatRows of incompatible shapes: no error")
	}
}

// rowField returns f(t, z) = tanh(z·W) + cos(t), W a 3×3 variable of ctx:
// each row of the output depends only on the same row of z.
func rowField(ctx *context.Context) diffeq.Func {
	ctx.In("field").VariableWithValue("w", [][]float64{{-0.5, 0.3, 0.1}, {0.2, -0.7, 0.4}, {0.1, 0.2, -0.3}})
	return func(ctx *context.Context, t, z *graph.Node) *graph.Node {
		w := ctx.In("field").GetVariable("w").ValueGraph(z.Graph())
		return graph.Add(graph.Tanh(graph.MatMul(z, w)), graph.Cos(t))
	}
}

func testZ0(batch int) *tensors.Tensor {
	v := make([]float64, batch*3)
	for i := range v {
		v[i] = math.Sin(float64(i) + 0.5)
	}
	return diffeq.FromFloat64s(dtypes.Float64, v, batch, 3)
}

func TestShardedODESolverFixedStepEqualsUnsharded(t *testing.T) {
	b := backend.Shared()
	ctx := context.New()
	f := rowField(ctx)
	opts := diffeq.Options{Method: diffeq.RK4, Dt: 0.05}
	ref, err := diffeq.NewODESolver(b, ctx, f, opts)
	if err != nil {
		t.Fatal(err)
	}
	sh, err := diffeq.NewShardedODESolver(b, ctx, f, opts, 3)
	if err != nil {
		t.Fatal(err)
	}
	z0 := testZ0(7)
	ts := []float64{0, 0.3, 1}
	want, err := ref.Solve(z0, ts)
	if err != nil {
		t.Fatal(err)
	}
	for call := range 2 { // the first call runs the shards serially, the second concurrently
		got, err := sh.Solve(z0, ts)
		if err != nil {
			t.Fatal(err)
		}
		if got.Steps != want.Steps || got.NFE != want.NFE || len(got.Ys) != len(want.Ys) {
			t.Fatalf("call %d: steps/NFE/saves %d/%d/%d, want %d/%d/%d", call, got.Steps, got.NFE, len(got.Ys), want.Steps, want.NFE, len(want.Ys))
		}
		for j := range want.Ys {
			a, _ := diffeq.Float64s(got.Ys[j])
			e, _ := diffeq.Float64s(want.Ys[j])
			for i := range e {
				if a[i] != e[i] {
					t.Fatalf("call %d, save %d, element %d: sharded %.17g, unsharded %.17g", call, j, i, a[i], e[i])
				}
			}
		}
	}
}

func TestShardedODESolverDopri5(t *testing.T) {
	// dz/dt = −z per row, solved with Dopri5: every shard meets the tolerance.
	b := backend.Shared()
	f := func(_ *context.Context, _, z *graph.Node) *graph.Node { return graph.Neg(z) }
	sh, err := diffeq.NewShardedODESolver(b, nil, f, diffeq.Options{Method: diffeq.Dopri5, RTol: 1e-8, ATol: 1e-10}, 2)
	if err != nil {
		t.Fatal(err)
	}
	z0 := testZ0(5)
	sol, err := sh.Solve(z0, []float64{0, 2})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := diffeq.Float64s(sol.Ys[1])
	e, _ := diffeq.Float64s(z0)
	for i := range e {
		if want := e[i] * math.Exp(-2); math.Abs(a[i]-want) > 1e-7 {
			t.Fatalf("element %d: %.12g, want %.12g", i, a[i], want)
		}
	}
	if sol.NFE < 6 || sol.Steps < 1 {
		t.Fatalf("NFE %d, steps %d", sol.NFE, sol.Steps)
	}
	if _, err := diffeq.NewShardedODESolver(b, nil, f, diffeq.Options{}, 0); err == nil {
		t.Fatal("0 shards: no error")
	}
}

func TestSDESolverShardsEqualUnsharded(t *testing.T) {
	b := backend.Shared()
	ctx := context.New()
	f := rowField(ctx)
	g := func(_ *context.Context, _, z *graph.Node) *graph.Node { return graph.MulScalar(graph.Cos(z), 0.3) }
	sde := diffeq.SDE{Drift: f, Diffusion: g}
	opts := diffeq.Options{Method: diffeq.EulerMaruyama, Dt: 0.01, Chunk: 8}
	z0 := testZ0(9)
	ts := []float64{0, 0.25, 0.5}
	bm, err := diffeq.NewBrownian(42, 0, 0.5, 0.01, 9, 3, dtypes.Float64)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := diffeq.NewSDESolver(b, ctx, sde, opts)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ref.Solve(z0, ts, bm)
	if err != nil {
		t.Fatal(err)
	}
	sh, err := diffeq.NewShardedSDESolver(b, ctx, sde, opts, 4)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // serial first call, concurrent second
		got, err := sh.Solve(z0, ts, bm)
		if err != nil {
			t.Fatal(err)
		}
		if want.NFE != got.NFE || want.NFE != 50 || got.Steps != 50 {
			t.Fatalf("NFE %d and %d, steps %d, want 50", want.NFE, got.NFE, got.Steps)
		}
		assertSameStates(t, got, want)
	}
	// The noise matters: a solve with another Brownian motion differs.
	bm2, _ := diffeq.NewBrownian(43, 0, 0.5, 0.01, 9, 3, dtypes.Float64)
	other, err := sh.Solve(z0, ts, bm2)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := diffeq.Float64s(other.Ys[2])
	e, _ := diffeq.Float64s(want.Ys[2])
	if math.Abs(a[0]-e[0]) < 1e-3 {
		t.Fatalf("another Brownian motion gave nearly the same state: %g vs %g", a[0], e[0])
	}
}

func TestShardedSDESolverReversibleHeun(t *testing.T) {
	b := backend.Shared()
	ctx := context.New()
	sde := diffeq.SDE{Drift: rowField(ctx), Type: diffeq.Stratonovich,
		Diffusion: func(_ *context.Context, _, z *graph.Node) *graph.Node { return graph.MulScalar(graph.Sin(z), 0.2) }}
	opts := diffeq.Options{Method: diffeq.ReversibleHeun, Dt: 0.02}
	z0 := testZ0(5)
	ts := []float64{0, 0.2}
	bm, _ := diffeq.NewBrownian(7, 0, 0.2, 0.02, 5, 3, dtypes.Float64)
	ref, err := diffeq.NewSDESolver(b, ctx, sde, opts)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ref.Solve(z0, ts, bm)
	if err != nil {
		t.Fatal(err)
	}
	sh, err := diffeq.NewShardedSDESolver(b, ctx, sde, opts, 2)
	if err != nil {
		t.Fatal(err)
	}
	got, err := sh.Solve(z0, ts, bm)
	if err != nil {
		t.Fatal(err)
	}
	assertSameStates(t, got, want)
	wr, gr := ref.ReversibleState(), sh.ReversibleState()
	for _, p := range [][2]*tensors.Tensor{{gr.Z, wr.Z}, {gr.ZHat, wr.ZHat}, {gr.F, wr.F}, {gr.G, wr.G}} {
		a, _ := diffeq.Float64s(p[0])
		e, _ := diffeq.Float64s(p[1])
		for i := range e {
			if a[i] != e[i] {
				t.Fatalf("reversible state element %d: sharded %.17g, unsharded %.17g", i, a[i], e[i])
			}
		}
	}
}

// assertSameStates fails unless got and want hold bit-identical states.
func assertSameStates(t *testing.T, got, want *diffeq.Solution) {
	t.Helper()
	if len(got.Ys) != len(want.Ys) {
		t.Fatalf("%d saves, want %d", len(got.Ys), len(want.Ys))
	}
	for j := range want.Ys {
		a, _ := diffeq.Float64s(got.Ys[j])
		e, _ := diffeq.Float64s(want.Ys[j])
		for i := range e {
			if a[i] != e[i] {
				t.Fatalf("save %d, element %d: sharded %.17g, unsharded %.17g", j, i, a[i], e[i])
			}
		}
	}
}

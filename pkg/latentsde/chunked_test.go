package latentsde

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/adjoint"
	"github.com/gosde/gosde/pkg/diffeq"
)

// TestChunkedGradients: the chunked direct method (TrainConfig.Chunk) and
// sharded batches (TrainConfig.Shards) give the loss and the gradients of
// backprop through the unrolled solve (one graph, ELBOGraph) on the same
// noise, in float64, with and without an encoder, for chunks that divide
// the save intervals and chunks that do not.
func TestChunkedGradients(t *testing.T) {
	ou := BenchmarkConfig()
	ou.Hidden, ou.DType, ou.Dt = []int{6, 5}, dtypes.Float64, 0.05
	enc := Config{DataDim: 2, LatentDim: 2, ContextDim: 3, Hidden: []int{7}, EncoderHidden: 4, DiffusionHidden: 3,
		TimeFeatures: true, Dt: 0.04, ObsScale: 0.1, DType: dtypes.Float64}
	for _, tc := range []struct {
		name          string
		cfg           Config
		ts            []float64
		chunk, shards int
	}{
		{"ou-prior/chunk2", ou, []float64{0, 0.3, 0.5, 0.6}, 2, 0},
		{"ou-prior/chunk4", ou, []float64{0, 0.3, 0.5, 0.6}, 4, 0},
		{"ou-prior/shards2", ou, []float64{0, 0.3, 0.5, 0.6}, 0, 2},
		{"encoder/chunk3", enc, []float64{0, 0.2, 0.28, 0.5}, 3, 0},
		{"encoder/chunk100", enc, []float64{0, 0.2, 0.28, 0.5}, 100, 0},
		{"encoder/chunk3-shards3", enc, []float64{0, 0.2, 0.28, 0.5}, 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			c := m.Config()
			const batch = 5
			xs := make([]float64, batch*len(tc.ts)*c.DataDim)
			ms := make([]float64, len(xs))
			for i := range xs {
				xs[i] = math.Sin(0.7*float64(i)) * 0.5
				ms[i] = float64((i*7)%5) / 4 // includes missing (0) entries
			}
			data := Data{Ts: tc.ts, X: diffeq.FromFloat64s(dtypes.Float64, xs, batch, len(tc.ts), c.DataDim),
				Mask: diffeq.FromFloat64s(dtypes.Float64, ms, batch, len(tc.ts), c.DataDim)}
			ctx := context.New()
			ctx.SetParam(context.ParamInitialSeed, int64(3))
			tr, err := NewTrainer(testBackend(), ctx, m, TrainConfig{Chunk: tc.chunk, Shards: tc.shards, Seed: 4, Schedule: ConstantKL(0.6)})
			if err != nil {
				t.Fatal(err)
			}
			tr.step = 2
			// Create the variables, then move them off their initial values
			// (zero last layers) so every weight gets a gradient.
			if _, _, _, err := tr.gradients(data); err != nil {
				t.Fatal(err)
			}
			for v := range ctx.IterVariables() {
				if v.Trainable {
					perturb(t, v)
				}
			}
			vals, vars, grads, err := tr.gradients(data)
			if err != nil {
				t.Fatal(err)
			}
			grid, _, _ := m.Grid(tc.ts)
			eps0, dW := tr.noise(uint64(tr.step)+1, batch, grid)
			var refVars []*context.Variable
			e, err := context.NewExec(testBackend(), ctx, func(ctx *context.Context, in []*Node) []*Node {
				terms, err := m.ELBOGraph(ctx, Observations{X: in[0], Mask: in[1], Ts: tc.ts}, in[2], in[3], in[4])
				if err != nil {
					panic(err)
				}
				g := in[0].Graph()
				refVars = adjoint.UsedTrainable(ctx, g)
				return append([]*Node{terms.Loss, terms.LogLik, terms.KL}, graph.Gradient(terms.Loss, adjoint.ParamNodes(g, refVars)...)...)
			})
			if err != nil {
				t.Fatal(err)
			}
			out, err := e.Exec(data.X, data.Mask, eps0, dW, diffeq.ScalarTensor(dtypes.Float64, 0.6))
			if err != nil {
				t.Fatal(err)
			}
			for i, name := range []string{"loss", "loglik", "kl"} {
				want := vec(t, out[i])[0]
				if math.Abs(vals[i]-want) > 1e-12*math.Max(1, math.Abs(want)) {
					t.Errorf("%s: chunked %.15g, unrolled %.15g", name, vals[i], want)
				}
			}
			t.Logf("loss %.6g, %d variables", vals[0], len(vars))
			if len(refVars) != len(vars) {
				t.Fatalf("chunked differentiates %d variables, unrolled %d", len(vars), len(refVars))
			}
			worst := 0.0
			for i, v := range refVars {
				if vars[i] != v {
					t.Fatalf("variable %d: chunked %s, unrolled %s", i, vars[i].ScopeAndName(), v.ScopeAndName())
				}
				a, b := vec(t, grads[i]), vec(t, out[3+i])
				var num, den float64
				for k := range a {
					num += (a[k] - b[k]) * (a[k] - b[k])
					den += b[k] * b[k]
				}
				worst = math.Max(worst, math.Sqrt(num/den))
				if den == 0 || math.Sqrt(num/den) > 1e-12 {
					t.Errorf("%s: relative difference %.3g (|grad| %.3g)", v.ScopeAndName(), math.Sqrt(num/den), math.Sqrt(den))
				}
			}
			t.Logf("largest relative difference over the variables: %.3g", worst)
		})
	}
}

func vec(t *testing.T, x *tensors.Tensor) []float64 {
	t.Helper()
	v, err := diffeq.Float64s(x)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// perturb adds a deterministic pattern of size 0.3 to v's value.
func perturb(t *testing.T, v *context.Variable) {
	t.Helper()
	val, err := v.Value()
	if err != nil {
		t.Fatal(err)
	}
	x := vec(t, val)
	for k := range x {
		x[k] += 0.3 * math.Sin(1.3*float64(k)+float64(len(x)))
	}
	if err := v.SetValue(diffeq.FromFloat64s(val.DType(), x, val.Shape().Dimensions...)); err != nil {
		t.Fatal(err)
	}
}

// TestSplitStepsMatchFused: training steps with chunks and shards update
// the weights (Adam) as the fused single-graph step does, from the same
// weights on the same noise (float64).
func TestSplitStepsMatchFused(t *testing.T) {
	m, err := New(Config{DataDim: 1, LatentDim: 2, ContextDim: 3, Hidden: []int{8}, EncoderHidden: 4, DiffusionHidden: 3, Dt: 0.05, ObsScale: 0.1, DType: dtypes.Float64})
	if err != nil {
		t.Fatal(err)
	}
	data := ouData(t, 6, []float64{0, 0.2, 0.35, 0.5})
	data.X = castTo(data.X, dtypes.Float64)
	cfg := TrainConfig{LearningRate: 1e-2, Schedule: LinearWarmup{Max: 1, Steps: 4}, Seed: 8}
	split := cfg
	split.Chunk, split.Shards = 2, 2
	a, err := NewTrainer(testBackend(), nil, m, split)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := a.gradients(data); err != nil { // creates the variables
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "init.bin")
	if err := a.Save(path); err != nil {
		t.Fatal(err)
	}
	b, err := NewTrainer(testBackend(), nil, m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Load(path); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		sa, err := a.Step(data)
		if err != nil {
			t.Fatal(err)
		}
		sb, err := b.Step(data)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(sa.Loss-sb.Loss) > 1e-9*math.Abs(sb.Loss) || math.Abs(sa.KL-sb.KL) > 1e-9*math.Abs(sb.KL) {
			t.Errorf("step %d: split loss %.12g KL %.12g, fused %.12g %.12g", i+1, sa.Loss, sa.KL, sb.Loss, sb.KL)
		}
	}
	n := 0
	for v := range a.Context().IterVariables() {
		if v.DType() != dtypes.Float64 {
			continue // counters
		}
		w := b.Context().GetVariableByScopeAndName(v.Scope(), v.Name())
		if w == nil {
			t.Errorf("%s: missing from the fused trainer", v.ScopeAndName())
			continue
		}
		va, _ := v.Value()
		vb, _ := w.Value()
		if e := maxRelDiff(vec(t, va), vec(t, vb)); e > 1e-9 {
			t.Errorf("%s: split and fused values differ by %.3g after 3 steps", v.ScopeAndName(), e)
		}
		n++
	}
	if n < 10 {
		t.Errorf("compared only %d variables", n)
	}
}

// maxRelDiff returns max |a − b| / max(1, |b|).
func maxRelDiff(a, b []float64) float64 {
	e := 0.0
	for i := range a {
		e = math.Max(e, math.Abs(a[i]-b[i])/math.Max(1, math.Abs(b[i])))
	}
	return e
}

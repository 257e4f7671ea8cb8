package spirals

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/adjoint"
	"github.com/gosde/gosde/pkg/backend"
	data "github.com/gosde/gosde/pkg/datasets/spirals"
	"github.com/gosde/gosde/pkg/diffeq"
)

var (
	seqOnce sync.Once
	seqB    backends.Backend
)

// testBackend is the embedded backend with sequential op execution (GoMLX
// v0.26's parallel executor can deadlock on these training graphs).
func testBackend(t *testing.T) backends.Backend { return testBackendB(t) }

func testBackendB(t testing.TB) backends.Backend {
	seqOnce.Do(func() {
		var err error
		if seqB, err = backend.NewWithConfig("go:ops_sequential"); err != nil {
			t.Fatal(err)
		}
	})
	return seqB
}

// small is a model small enough for quick tests.
var small = ModelConfig{Latent: 4, Hidden: 16, RNNHidden: 16}

func smallData(t *testing.T, n int) *data.Dataset {
	d, err := data.Generate(data.Config{N: n, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func newSmall(t *testing.T, solver SolverConfig, dt float64) *Learner {
	m, err := NewModel(small)
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLearner(testBackend(t), m, solver, 1e-2, dt, 3)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// The encoder maps (T, B, 3) to two (B, Latent) outputs, and ignores the
// values at unobserved grid points (the mask skips them).
func TestEncoderShapesAndMask(t *testing.T) {
	m, _ := NewModel(ModelConfig{Latent: 3, RNNHidden: 8, DType: dtypes.Float64})
	ctx := context.New()
	e := context.MustNewExec(testBackend(t), ctx, func(ctx *context.Context, enc, mask *graph.Node) []*graph.Node {
		mean, logVar := m.EncodeGraph(ctx, enc, mask)
		return []*graph.Node{mean, logVar}
	})
	const T, B = 7, 5
	rng := rand.New(rand.NewPCG(1, 2))
	enc := make([]float64, T*B*3)
	mask := make([]float64, T*B)
	for i := range enc {
		enc[i] = rng.NormFloat64()
	}
	for j := 0; j < T; j++ {
		for s := 0; s < B; s++ {
			if (j+s)%2 == 0 {
				mask[j*B+s] = 1
			}
		}
	}
	run := func(enc []float64) ([]float64, []float64) {
		out := e.MustExec(tensors.FromFlatDataAndDimensions(enc, T, B, 3), tensors.FromFlatDataAndDimensions(mask, T, B, 1))
		if d := out[0].Shape().Dimensions; len(d) != 2 || d[0] != B || d[1] != 3 {
			t.Fatalf("mean shape %v, want [%d 3]", d, B)
		}
		if !out[1].Shape().Equal(out[0].Shape()) {
			t.Fatalf("logVar shape %s", out[1].Shape())
		}
		return tensors.MustCopyFlatData[float64](out[0]), tensors.MustCopyFlatData[float64](out[1])
	}
	mean1, lv1 := run(enc)
	garbage := append([]float64(nil), enc...)
	for j := 0; j < T; j++ {
		for s := 0; s < B; s++ {
			if (j+s)%2 == 1 {
				garbage[3*(j*B+s)] = 1e3 * rng.NormFloat64()
			}
		}
	}
	mean2, lv2 := run(garbage)
	for i := range mean1 {
		if mean1[i] != mean2[i] || lv1[i] != lv2[i] {
			t.Fatalf("unobserved values changed the encoding: %g vs %g", mean1[i], mean2[i])
		}
	}
	// An observed value does change it.
	enc[0] += 1
	if mean3, _ := run(enc); mean3[0] == mean1[0] {
		t.Fatal("an observed value did not change the encoding")
	}
}

// The loss terms against a hand computation in Go.
func TestLossAgainstHandComputation(t *testing.T) {
	m, _ := NewModel(ModelConfig{ObsStd: 0.3, DType: dtypes.Float64})
	const B, T, L = 2, 3, 2
	pred := []float64{0.1, 0.2, 0.3, -0.4, 0.5, 0.6, 0.7, 0.8, -0.9, 1.0, 1.1, 1.2}
	obs := []float64{0.0, 0.25, 0.5, -0.5, 0.4, 0.9, 0.6, 0.6, -1.0, 1.3, 0.0, 0.0}
	maskPt := []float64{1, 1, 0, 1, 1, 1} // (B, T)
	mean := []float64{0.3, -0.2, 1.0, 0.5}
	logVar := []float64{-1.0, 0.2, 0.0, -0.5}
	var ll, kl, n float64
	for p, mk := range maskPt {
		for c := 0; c < 2; c++ {
			r := (obs[2*p+c] - pred[2*p+c]) / 0.3
			ll += mk * (-0.5*r*r - math.Log(0.3) - 0.5*math.Log(2*math.Pi))
		}
		n += mk
	}
	for i := range mean {
		kl += 0.5 * (mean[i]*mean[i] + math.Exp(logVar[i]) - logVar[i] - 1)
	}
	mask := make([]float64, 2*len(maskPt))
	for p, mk := range maskPt {
		mask[2*p], mask[2*p+1] = mk, mk
	}
	e := context.MustNewExec(testBackend(t), context.New(), func(ctx *context.Context, in []*graph.Node) []*graph.Node {
		loss, logLik, k := m.LossGraph(in[0], in[1], in[2], in[3], in[4])
		return []*graph.Node{loss, logLik, k}
	})
	out := e.MustExec(tensors.FromFlatDataAndDimensions(pred, B, T, 2), tensors.FromFlatDataAndDimensions(obs, B, T, 2),
		tensors.FromFlatDataAndDimensions(mask, B, T, 2), tensors.FromFlatDataAndDimensions(mean, B, L),
		tensors.FromFlatDataAndDimensions(logVar, B, L))
	got := []float64{out[0].Value().(float64), out[1].Value().(float64), out[2].Value().(float64)}
	want := []float64{(kl - ll) / n, ll, kl}
	for i := range got {
		if math.Abs(got[i]-want[i]) > 1e-12*(1+math.Abs(want[i])) {
			t.Fatalf("term %d (loss, loglik, kl): got %.15g want %.15g", i, got[i], want[i])
		}
	}
}

// 200 training steps on 64 spirals (short sub-spans, a small model) lower
// the loss by a clear margin.
func TestTrainingLowersLoss(t *testing.T) {
	d := smallData(t, 64)
	l := newSmall(t, SolverConfig{}, d.Ts[1]-d.Ts[0])
	rng := rand.New(rand.NewPCG(2, 2))
	var losses []float64
	for range 200 {
		b, err := d.Sample(rng, 16, data.SampleOptions{Span: 20, Keep: []int{10, 15, 20}})
		if err != nil {
			t.Fatal(err)
		}
		loss, err := l.Step(b, rng)
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, loss)
	}
	first, last := meanOf(losses[:10]), meanOf(losses[190:])
	t.Logf("loss %.1f → %.1f", first, last)
	if !(last < first/5) {
		t.Fatalf("loss fell only from %g to %g in 200 steps", first, last)
	}
}

// Direct and adjoint gradients of the same batch agree (RK4, fixed steps:
// the continuous adjoint differs from the discrete gradient only by the
// solver's error).
func TestAdjointMatchesDirect(t *testing.T) {
	d := smallData(t, 8)
	rng := rand.New(rand.NewPCG(3, 3))
	b, err := d.Sample(rng, 4, data.SampleOptions{Span: 10, Keep: []int{10}})
	if err != nil {
		t.Fatal(err)
	}
	grads := map[adjoint.Method][]float64{}
	for _, method := range []adjoint.Method{adjoint.Direct, adjoint.Adjoint} {
		l := newSmall(t, SolverConfig{Method: method, Substeps: 4}, d.Ts[1]-d.Ts[0])
		in := l.Model.Inputs(b, rand.New(rand.NewPCG(9, 9)))
		_, gs, err := l.trainer.Gradients(in.List(), b.Ts)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range l.trainer.Vars() {
			vals, _ := diffeq.Float64s(gs[i])
			if v.Scope() == "/"+adjoint.DynamicsScope+"/field/layer_0" && v.Name() == "weights" {
				grads[method] = vals
			}
		}
	}
	dg, ag := grads[adjoint.Direct], grads[adjoint.Adjoint]
	if len(dg) == 0 || len(dg) != len(ag) {
		t.Fatalf("missing field gradients: %d direct, %d adjoint", len(dg), len(ag))
	}
	var num, den float64
	for i := range dg {
		num += (dg[i] - ag[i]) * (dg[i] - ag[i])
		den += dg[i] * dg[i]
	}
	rel := math.Sqrt(num / den)
	t.Logf("relative difference %.2g (gradient norm %.3g)", rel, math.Sqrt(den))
	if rel > 1e-5 || den == 0 {
		t.Fatalf("adjoint and direct field gradients differ by %.2g (relative)", rel)
	}
}

// A checkpoint restores the weights, the optimizer and the step count.
func TestCheckpointRoundTrip(t *testing.T) {
	d := smallData(t, 16)
	dt := d.Ts[1] - d.Ts[0]
	l := newSmall(t, SolverConfig{}, dt)
	rng := rand.New(rand.NewPCG(4, 4))
	b, _ := d.Sample(rng, 4, data.SampleOptions{Span: 10, Keep: []int{10}})
	for range 3 {
		if _, err := l.Step(b, nil); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "m.ckpt")
	if err := l.Save(path); err != nil {
		t.Fatal(err)
	}
	l2 := newSmall(t, SolverConfig{}, dt)
	if err := l2.Load(path); err != nil {
		t.Fatal(err)
	}
	if l2.Steps() != 3 {
		t.Fatalf("steps %d after load, want 3", l2.Steps())
	}
	// The next step (which uses Adam's moments) gives the same loss and weights.
	p1, _ := l.Step(b, nil)
	p2, _ := l2.Step(b, nil)
	q1, _ := l.Predict(b, nil)
	q2, _ := l2.Predict(b, nil)
	if p1 != p2 || q1.Pred[7] != q2.Pred[7] {
		t.Fatalf("resumed learner differs: loss %g vs %g, pred %g vs %g", p1, p2, q1.Pred[7], q2.Pred[7])
	}
	other, _ := NewModel(ModelConfig{Latent: 5})
	l3, _ := NewLearner(testBackend(t), other, SolverConfig{}, 1e-3, dt, 1)
	if err := l3.Load(path); err == nil {
		t.Fatal("loading into a model of another size succeeded")
	}
}

// The baseline of Evaluate is the RMSE of repeating the last observed point.
func TestEvaluateBaseline(t *testing.T) {
	d := smallData(t, 6)
	l := newSmall(t, SolverConfig{}, d.Ts[1]-d.Ts[0])
	ev, err := Evaluate(l, d, 1)
	if err != nil {
		t.Fatal(err)
	}
	var s float64
	var n int
	for i := 0; i < d.Len(); i++ {
		for j := 50; j < 200; j++ {
			for c := 0; c < 2; c++ {
				r := d.Obs[i][2*49+c] - d.Clean[i][2*j+c]
				s += r * r
				n++
			}
		}
	}
	if want := math.Sqrt(s / float64(n)); math.Abs(ev.BaselineRMSE-want) > 1e-12 {
		t.Fatalf("baseline %g, want %g", ev.BaselineRMSE, want)
	}
	if len(ev.Interp) != 3 || math.IsNaN(ev.ExtrapRMSE) || math.IsNaN(ev.ReconRMSE) {
		t.Fatalf("incomplete evaluation: %+v", ev)
	}
}

func TestConfigErrors(t *testing.T) {
	if _, err := NewModel(ModelConfig{Latent: -1}); err == nil {
		t.Error("Latent -1 accepted")
	}
	m, _ := NewModel(small)
	if _, err := NewLearner(testBackend(t), m, SolverConfig{Method: "magic"}, 1e-3, 0.1, 1); err == nil {
		t.Error("unknown method accepted")
	}
	if _, err := NewLearner(testBackend(t), m, SolverConfig{}, math.NaN(), 0.1, 1); err == nil {
		t.Error("NaN learning rate accepted")
	}
}

func meanOf(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

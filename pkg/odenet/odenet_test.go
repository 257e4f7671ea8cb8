package odenet

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/train/losses"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/datasets/mnist"
	"github.com/gosde/gosde/pkg/diffeq"
)

// TestParamCount checks the parameter counts against the reference
// implementation's arithmetic: stem 640+128+65,600+128+65,600 = 132,096;
// ODE function 3·128 + 2·(65·9·64+64) = 75,392; head 128+650 = 778; total
// 208,266. The ResNet's six blocks have 6·(2·128 + 2·64·9·64) = 443,904.
func TestParamCount(t *testing.T) {
	b := backend.MustNew()
	for _, c := range []struct {
		cfg  Config
		want int
	}{
		{DefaultConfig(), 208266},
		{Config{Model: ResNet}, 132096 + 443904 + 778},
	} {
		n, err := ParamCount(b, NewContext(0), c.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if n != c.want {
			t.Errorf("%s: %d parameters, want %d", c.cfg, n, c.want)
		}
	}
}

// TestDynamicsShape checks that the ODE function maps (batch, 64·6·6) to the
// same shape, depends on t (time is an input channel), and that the ODE
// block keeps the stem's shape.
func TestDynamicsShape(t *testing.T) {
	b := backend.MustNew()
	ctx := NewContext(0)
	z := make([]float32, 3*StateDim)
	for i := range z {
		z[i] = float32(math.Sin(float64(i)))
	}
	e := context.MustNewExec(b, ctx, func(ctx *context.Context, z *graph.Node) []*graph.Node {
		c := ctx.In("f").Checked(false)
		g := z.Graph()
		f0 := Dynamics(c, graph.Scalar(g, z.DType(), 0), z)
		f1 := Dynamics(c, graph.Scalar(g, z.DType(), 1), z)
		x := graph.Reshape(z, 3, Side, Side, Channels)
		y := ODEBlock(ctx.In("block"), Config{Model: ODENet, Method: diffeq.RK4, Steps: 1}, x)
		return []*graph.Node{f0, graph.ReduceAllMax(graph.Abs(graph.Sub(f1, f0))), y}
	})
	out := e.MustExec(tensors.FromFlatDataAndDimensions(z, 3, StateDim))
	if got := out[0].Shape().Dimensions; len(got) != 2 || got[0] != 3 || got[1] != StateDim {
		t.Errorf("dynamics output shape %v, want [3 %d]", got, StateDim)
	}
	if d := out[1].Value().(float32); !(d > 1e-4) {
		t.Errorf("dynamics does not depend on t: max |f(1,z) − f(0,z)| = %g", d)
	}
	if got := out[2].Shape().Dimensions; len(got) != 4 || got[1] != Side || got[3] != Channels {
		t.Errorf("ODE block output shape %v, want [3 %d %d %d]", got, Side, Side, Channels)
	}
}

// fixedSet returns n real MNIST training images, or skips the test.
func fixedSet(t *testing.T, n int) *mnist.Set {
	train, _, err := mnist.Load("", false)
	if err != nil {
		t.Skipf("MNIST module not available: %v", err)
	}
	return train.Subset(n)
}

// TestTrainingLowersLoss trains the ODE-Net (one Euler step) for a few Adam
// steps on 64 real images and checks that the mean loss on those images went
// down; then resumes from the checkpoint for one more epoch.
func TestTrainingLowersLoss(t *testing.T) {
	set := fixedSet(t, 64)
	b := backend.MustNew()
	cfg := Config{Model: ODENet, Method: diffeq.Euler, Steps: 1}
	ctx0 := NewContext(7)
	if _, err := ParamCount(b, ctx0, cfg); err != nil {
		t.Fatal(err)
	}
	if err := ctx0.InitializeVariables(b, nil); err != nil {
		t.Fatal(err)
	}
	_, before, err := Evaluate(b, ctx0, cfg, set, 64)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	opts := Options{Epochs: 3, Batch: 16, LR: 3e-3, Seed: 7, OutDir: dir, CheckpointEvery: 5, Keep: 2}
	res, err := Train(b, cfg, set, set, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 12 || res.StepsRun != 12 || res.ResumedFrom != 0 {
		t.Errorf("steps %d run %d resumed %d, want 12, 12, 0", res.Steps, res.StepsRun, res.ResumedFrom)
	}
	t.Logf("loss on the 64 images: %.4f before, %.4f after 12 steps; accuracy %.3f", before, res.TestLoss, res.TestAccuracy)
	if !(res.TestLoss < before-0.05) {
		t.Errorf("loss on the training images went from %.4f to %.4f, want a decrease of at least 0.05", before, res.TestLoss)
	}
	// Checkpoints: at most Keep, no temporary file left behind; resuming runs only the new epoch.
	files, _ := filepath.Glob(filepath.Join(dir, "checkpoint-*.ckpt"))
	if len(files) != 2 {
		t.Errorf("%d checkpoints in %s, want 2", len(files), dir)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, ".*")); len(tmp) != 0 {
		t.Errorf("temporary files left behind: %v", tmp)
	}
	opts.Epochs = 4
	checkResume(t, b, cfg, set, opts, 12, 4, 16)
}

// TestBadOptions checks that invalid settings are rejected with errors
// naming them.
func TestBadOptions(t *testing.T) {
	if err := (Config{Model: "vgg"}).Validate(); err == nil {
		t.Error("model vgg accepted")
	}
	if err := (Config{Model: ODENet, Method: diffeq.RK4, Steps: 0}).Validate(); err == nil {
		t.Error("0 steps accepted")
	}
	if err := (Config{Model: ODENet, Method: diffeq.EulerMaruyama, Steps: 1}).Validate(); err == nil {
		t.Error("SDE method accepted")
	}
	o := Options{LR: math.NaN()}
	if err := o.defaults(); err == nil {
		t.Error("NaN learning rate accepted")
	}
}

// TestMomentum checks two steps of Momentum on L = ½w² against the closed
// form: b₁ = w₀, w₁ = w₀ − lr·b₁; b₂ = μ·b₁ + w₁, w₂ = w₁ − lr·b₂.
func TestMomentum(t *testing.T) {
	b := backend.MustNew()
	ctx := context.New()
	opt := Momentum{LR: 0.1, Mu: 0.9}
	e := context.MustNewExec(b, ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
		w := ctx.WithInitializer(func(g *graph.Graph, s shapes.Shape) *graph.Node { return graph.Scalar(g, s.DType, 2) }).
			VariableWithShape("w", shapes.Make(dtypes.Float64)).ValueGraph(x.Graph())
		opt.UpdateGraph(ctx, x.Graph(), graph.Mul(graph.MulScalar(graph.Square(w), 0.5), x))
		return w
	})
	one := 1.0
	e.MustExec(one)
	e.MustExec(one)
	w0 := 2.0
	b1 := w0
	w1 := w0 - 0.1*b1
	b2 := 0.9*b1 + w1
	w2 := w1 - 0.1*b2
	got := ctx.GetVariableByScopeAndName("/", "w").MustValue().Value().(float64)
	if math.Abs(got-w2) > 1e-12 {
		t.Errorf("w after 2 steps = %g, want %g", got, w2)
	}
}

// TestModelGradient checks the ODE-Net's gradient (direct backpropagation
// through one RK4 step, hand-written convolution gradients) against central
// finite differences in float64, for one element of every variable.
func TestModelGradient(t *testing.T) {
	b := backend.MustNew()
	ctx := NewContext(1)
	cfg := Config{Model: ODENet, Method: diffeq.RK4, Steps: 1}
	xs := make([]float64, 2*28*28)
	for i := range xs {
		xs[i] = math.Sin(0.37 * float64(i))
	}
	x := tensors.FromFlatDataAndDimensions(xs, 2, 28, 28, 1)
	y := tensors.FromFlatDataAndDimensions([]int32{3, 7}, 2, 1)
	lossFn := func(ctx *context.Context, x, y *graph.Node) *graph.Node {
		return losses.SparseCategoricalCrossEntropyLogits([]*graph.Node{y}, []*graph.Node{Logits(ctx, cfg, x)})
	}
	le := context.MustNewExec(b, ctx, lossFn)
	le.MustExec(x, y)
	var vars []*context.Variable
	for v := range ctx.IterVariables() {
		if v.Trainable && v.Shape().DType == dtypes.Float64 {
			vars = append(vars, v)
		}
	}
	ge := context.MustNewExec(b, ctx.Reuse(), func(ctx *context.Context, x, y *graph.Node) []*graph.Node {
		values := make([]*graph.Node, len(vars))
		for i, v := range vars {
			values[i] = v.ValueGraph(x.Graph())
		}
		return graph.Gradient(lossFn(ctx, x, y), values...)
	})
	grads := ge.MustExec(x, y)
	set := func(v *context.Variable, vals []float64) {
		v.MustSetValue(tensors.FromFlatDataAndDimensions(append([]float64(nil), vals...), v.Shape().Dimensions...))
	}
	for i, v := range vars {
		vals := tensors.MustCopyFlatData[float64](v.MustValue())
		k := len(vals) / 3
		old, h := vals[k], 1e-6
		vals[k] = old + h
		set(v, vals)
		up := le.MustExec(x, y)[0].Value().(float64)
		vals[k] = old - h
		set(v, vals)
		down := le.MustExec(x, y)[0].Value().(float64)
		vals[k] = old
		set(v, vals)
		fd := (up - down) / (2 * h)
		g := tensors.MustCopyFlatData[float64](grads[i])[k]
		if math.Abs(fd-g) > 1e-6*(1+math.Abs(fd)) {
			t.Errorf("%s[%d]: gradient %.8g, finite difference %.8g", v.ParameterName(), k, g, fd)
		}
	}
	if len(vars) != 24 { // stem 10, ODE function 10, head 4
		t.Errorf("checked %d variables, want 24", len(vars))
	}
}

// checkResume trains again with opts (which raise the epochs) in the same
// output directory and checks that it resumed from step from, ran ran
// steps and ended at step at.
func checkResume(t *testing.T, b backends.Backend, cfg Config, set *mnist.Set, opts Options, from, ran, at int) {
	t.Helper()
	res, err := Train(b, cfg, set, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.ResumedFrom != from || res.StepsRun != ran || res.Steps != at {
		t.Errorf("resume: from %d, ran %d, at %d; want %d, %d, %d", res.ResumedFrom, res.StepsRun, res.Steps, from, ran, at)
	}
}

package adjoint_test

import (
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/adjoint"
	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/diffeq"
)

// odeLoss is L = Σ_i w_i · Σ z(ts[i])² / 2 + Σ z(ts[i]), so dL/dz_i = w_i·z_i + 1.
var odeTs = []float64{0, 0.3, 0.7, 1.2, 1.5}

func odeWeight(i int) float64 { return 0.5 + 0.25*float64(i) }

func odeCotangents(ys []*tensors.Tensor) []*tensors.Tensor {
	out := make([]*tensors.Tensor, len(ys))
	for i, y := range ys {
		v, _ := diffeq.Float64s(y)
		g := make([]float64, len(v))
		for j := range v {
			g[j] = odeWeight(i)*v[j] + 1
		}
		out[i] = tensors.FromFlatDataAndDimensions(g, y.Shape().Dimensions...)
	}
	return out
}

// odeLoss builds the loss of odeCotangents on the states zs (at odeTs or
// sdeTs); a non-nil err (of the solve that gave zs) panics, as graph builders do.
func odeLoss(zs []*graph.Node, err error) *graph.Node {
	if err != nil {
		panic(err)
	}
	var loss *graph.Node
	for i, z := range zs {
		term := graph.Add(graph.MulScalar(graph.ReduceAllSum(graph.Mul(z, z)), 0.5*odeWeight(i)), graph.ReduceAllSum(z))
		if loss == nil {
			loss = term
		} else {
			loss = graph.Add(loss, term)
		}
	}
	return loss
}

// directLoss builds the same loss on an unrolled Dopri5 solve with fixed steps.
func directGraph(f diffeq.Func, substeps int, withGrad bool) func(ctx *context.Context, z0, ts *graph.Node) []*graph.Node {
	return func(ctx *context.Context, z0, ts *graph.Node) []*graph.Node {
		z0 = graph.Identity(z0)
		loss := odeLoss(diffeq.Integrate(ctx.Checked(false), diffeq.Dopri5, f, z0, ts, substeps))
		out := []*graph.Node{loss}
		if !withGrad {
			return out
		}
		wrt := []*graph.Node{z0}
		for v := range ctx.IterVariables() {
			if v.Trainable && v.InUseByGraph(z0.Graph()) {
				wrt = append(wrt, v.ValueGraph(z0.Graph()))
			}
		}
		return append(out, graph.Gradient(loss, wrt...)...)
	}
}

func TestODEAdjointMatchesDirectAndFiniteDifferences(t *testing.T) {
	b := backend.Shared()
	ctx := context.New()
	f := mlp(2, 16, 7)
	z0 := tensors.FromFlatDataAndDimensions([]float64{0.5, -0.3, 1.1, 0.2, -0.7, 0.9}, 3, 2)
	adj, err := adjoint.NewODE(b, ctx, f, adjoint.Options{Solver: diffeq.Options{Method: diffeq.Dopri5, RTol: 1e-9, ATol: 1e-9}})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := adj.Forward(z0, odeTs)
	if err != nil {
		t.Fatal(err)
	}
	grads, err := adj.Backward(tr, odeCotangents(tr.Ys))
	if err != nil {
		t.Fatal(err)
	}
	if len(grads.Vars) != 4 {
		t.Fatalf("got %d variables, want 4 (w1, b1, w2, b2)", len(grads.Vars))
	}
	t.Logf("forward NFE %d (%d steps), backward NFE %d", tr.NFE, tr.Steps, grads.NFE)

	// Direct: backprop through 30 fixed Dopri5 steps per interval.
	direct := context.MustNewExec(b, ctx, directGraph(f, 30, true))
	lossOnly := context.MustNewExec(b, ctx, directGraph(f, 30, false))
	tsT := tensors.FromValue(odeTs)
	out := direct.MustExec(z0, tsT)
	if len(out) != 1+1+len(grads.Vars) {
		t.Fatalf("direct graph returned %d outputs", len(out))
	}
	check := func(name string, got, want []float64, tol float64) {
		t.Helper()
		if e := relErr(got, want); !(e < tol) {
			t.Errorf("%s: relative error %.3g ≥ %g", name, e, tol)
		} else {
			t.Logf("%s: relative error %.3g", name, e)
		}
	}
	check("dL/dz0 adjoint vs direct", flat(t, grads.Z0), flat(t, out[1]), 1e-6)
	for i, v := range grads.Vars {
		check("dL/d"+v.Name()+" adjoint vs direct", flat(t, grads.Params[i]), flat(t, out[2+i]), 1e-6)
	}

	// Central finite differences of the direct loss.
	const eps = 1e-5
	loss := func() float64 { return flat(t, lossOnly.MustExec(z0, tsT)[0])[0] }
	zv := flat(t, z0)
	fdZ := make([]float64, len(zv))
	for i := range zv {
		zp := append([]float64(nil), zv...)
		zp[i] += eps
		lp := flat(t, lossOnly.MustExec(tensors.FromFlatDataAndDimensions(zp, 3, 2), tsT)[0])[0]
		zp[i] -= 2 * eps
		lm := flat(t, lossOnly.MustExec(tensors.FromFlatDataAndDimensions(zp, 3, 2), tsT)[0])[0]
		fdZ[i] = (lp - lm) / (2 * eps)
	}
	check("dL/dz0 direct vs finite differences", flat(t, out[1]), fdZ, 1e-6)
	check("dL/dz0 adjoint vs finite differences", flat(t, grads.Z0), fdZ, 1e-6)
	w1 := grads.Vars[0]
	orig := flat(t, w1.MustValue())
	fdW := make([]float64, len(orig))
	for i := range orig {
		wp := append([]float64(nil), orig...)
		wp[i] += eps
		w1.MustSetValue(tensors.FromFlatDataAndDimensions(wp, w1.Shape().Dimensions...))
		lp := loss()
		wp[i] -= 2 * eps
		w1.MustSetValue(tensors.FromFlatDataAndDimensions(wp, w1.Shape().Dimensions...))
		lm := loss()
		fdW[i] = (lp - lm) / (2 * eps)
	}
	w1.MustSetValue(tensors.FromFlatDataAndDimensions(orig, w1.Shape().Dimensions...))
	check("dL/dw1 adjoint vs finite differences", flat(t, grads.Params[0]), fdW, 1e-6)
}

func TestODEAdjointCheckpointsAndFixedSteps(t *testing.T) {
	b := backend.Shared()
	ctx := context.New()
	f := mlp(2, 8, 3)
	z0 := tensors.FromFlatDataAndDimensions([]float64{0.5, -0.3, 1.1, 0.2}, 2, 2)
	var ref []float64
	for _, k := range []int{0, 3} {
		adj, err := adjoint.NewODE(b, ctx, f, adjoint.Options{Solver: diffeq.Options{Method: diffeq.RK4, Dt: 0.02}, CheckpointEvery: k})
		if err != nil {
			t.Fatal(err)
		}
		tr, err := adj.Forward(z0, odeTs)
		if err != nil {
			t.Fatal(err)
		}
		g, err := adj.Backward(tr, odeCotangents(tr.Ys))
		if err != nil {
			t.Fatal(err)
		}
		got := append(flat(t, g.Z0), flat(t, g.Params[2])...)
		if ref == nil {
			ref = got
			continue
		}
		// RK4 at dt=0.02: both agree with each other to the discretisation error.
		if e := relErr(got, ref); !(e < 1e-6) {
			t.Errorf("checkpointed (k=%d) vs plain adjoint: relative error %.3g", k, e)
		}
	}
}

func TestODEAdjointErrors(t *testing.T) {
	b := backend.Shared()
	ctx := context.New()
	f := mlp(2, 4, 1)
	z0 := tensors.FromFlatDataAndDimensions([]float64{0.5, -0.3}, 1, 2)
	// A variable the drift does not use.
	other := ctx.In("decoder").VariableWithValue("w", 1.0)
	adj, err := adjoint.NewODE(b, ctx, f, adjoint.Options{Params: []*context.Variable{other}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := adj.Forward(z0, odeTs); err == nil || !strings.Contains(err.Error(), "/decoder") {
		t.Errorf("want an error naming the unused variable, got %v", err)
	}
	adj, _ = adjoint.NewODE(b, ctx, f, adjoint.Options{})
	tr, err := adj.Forward(z0, odeTs)
	if err != nil {
		t.Fatal(err)
	}
	cot := odeCotangents(tr.Ys)
	cot[2] = tensors.FromFlatDataAndDimensions([]float64{1, 2, 3}, 1, 3)
	if _, err := adj.Backward(tr, cot); err == nil || !strings.Contains(err.Error(), "shape") {
		t.Errorf("want a shape error, got %v", err)
	}
	cot = odeCotangents(tr.Ys)
	cot[3] = tensors.FromFlatDataAndDimensions([]float64{1, nan()}, 1, 2)
	if _, err := adj.Backward(tr, cot); err == nil || !strings.Contains(err.Error(), "ts[3]=1.2") {
		t.Errorf("want a non-finite error naming ts[3]=1.2, got %v", err)
	}
	if _, err := adj.Backward(tr, cot[:2]); err == nil {
		t.Errorf("want an error for too few cotangents")
	}
	// A trajectory of another solver (here with other steps) is refused;
	// its own solver takes it.
	other2, _ := adjoint.NewODE(b, ctx, f, adjoint.Options{Solver: diffeq.Options{Method: diffeq.Euler, Dt: 0.5}})
	trOther, err := other2.Forward(z0, odeTs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := adj.Backward(trOther, odeCotangents(trOther.Ys)); err == nil || !strings.Contains(err.Error(), "another solver") {
		t.Errorf("a trajectory of another solver: want an error naming it, got %v", err)
	}
	if _, err := other2.Backward(trOther, odeCotangents(trOther.Ys)); err != nil {
		t.Errorf("its own solver refused the trajectory: %v", err)
	}
	bad, _ := adjoint.NewODE(b, ctx, func(ctx *context.Context, t, z *graph.Node) *graph.Node {
		return graph.Concatenate([]*graph.Node{z, z}, 1)
	}, adjoint.Options{})
	if _, err := bad.Forward(z0, odeTs); err == nil || !strings.Contains(err.Error(), "shape") {
		t.Errorf("want an output shape error, got %v", err)
	}
}

package nn_test

import (
	"math"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/nn"
)

// gruVars are fixed GRU weights for in=2, hidden=3, set into ctx by setGRU.
type gruVars struct {
	wr, wz [][]float64 // [in+hidden][hidden]
	wn, un [][]float64 // [in][hidden], [hidden][hidden]
	br, bz []float64
	bn, cn []float64
}

func fixedGRU() gruVars {
	m := func(seed uint64, rows, cols int) [][]float64 {
		v := normals(seed, rows*cols)
		out := make([][]float64, rows)
		for i := range out {
			out[i] = v[i*cols : (i+1)*cols]
		}
		return out
	}
	return gruVars{
		wr: m(21, 5, 3), wz: m(22, 5, 3), wn: m(23, 2, 3), un: m(24, 3, 3),
		br: normals(25, 3), bz: normals(26, 3), bn: normals(27, 3), cn: normals(28, 3),
	}
}

func setGRU(ctx *context.Context, v gruVars) {
	set := func(scope string, w [][]float64, b []float64) {
		c := ctx.In(scope)
		c.VariableWithValue("weights", w)
		c.VariableWithValue("biases", b)
	}
	set("reset", v.wr, v.br)
	set("update", v.wz, v.bz)
	set("candidate_x", v.wn, v.bn)
	set("candidate_h", v.un, v.cn)
}

// step computes one GRU step in Go for one example.
func (v gruVars) step(x, h []float64) []float64 {
	xh := append(slices.Clone(x), h...)
	lin := func(w [][]float64, b, in []float64, j int) float64 {
		s := b[j]
		for i, xi := range in {
			s += xi * w[i][j]
		}
		return s
	}
	sig := func(s float64) float64 { return 1 / (1 + math.Exp(-s)) }
	out := make([]float64, len(h))
	for j := range out {
		r := sig(lin(v.wr, v.br, xh, j))
		z := sig(lin(v.wz, v.bz, xh, j))
		n := math.Tanh(lin(v.wn, v.bn, x, j) + r*lin(v.un, v.cn, h, j))
		out[j] = (1-z)*n + z*h[j]
	}
	return out
}

func TestGRUCellByHand(t *testing.T) {
	v := fixedGRU()
	ctx := context.New()
	setGRU(ctx.In("gru"), v)
	x := [][]float64{{0.5, -1}, {2, 0.25}}
	h := [][]float64{{0.1, -0.2, 0.3}, {-1, 0.5, 0}}
	out := context.MustExecOnce(backend.Shared(), ctx, func(ctx *context.Context, x, h *graph.Node) *graph.Node {
		return nn.GRUCell(ctx.In("gru").Reuse(), x, h, 3)
	}, x, h)
	got := out.Value().([][]float64)
	for b := range 2 {
		want := v.step(x[b], h[b])
		for j := range want {
			if math.Abs(got[b][j]-want[j]) > 1e-14 {
				t.Errorf("h'[%d][%d] = %.17g, want %.17g", b, j, got[b][j], want[j])
			}
		}
	}
}

func TestGRUSequence(t *testing.T) {
	v := fixedGRU()
	ctx := context.New()
	setGRU(ctx, v)
	const steps, batch = 4, 3
	xs := normals(31, steps*batch*2)
	h0 := normals(32, batch*3)
	outs := context.MustExecOnceN(backend.Shared(), ctx.Reuse(), func(ctx *context.Context, x, h0 *graph.Node) []*graph.Node {
		seq := make([]*graph.Node, steps)
		for s := range seq {
			seq[s] = graph.Slice(x, graph.AxisElem(s))
			seq[s] = graph.Reshape(seq[s], batch, 2)
		}
		return nn.GRU(ctx, seq, h0)
	}, tensors.FromFlatDataAndDimensions(xs, steps, batch, 2), tensors.FromFlatDataAndDimensions(h0, batch, 3))
	if len(outs) != steps {
		t.Fatalf("GRU returned %d states, want %d", len(outs), steps)
	}
	for b := range batch {
		h := h0[b*3 : b*3+3]
		for s := range steps {
			if !slices.Equal(outs[s].Shape().Dimensions, []int{batch, 3}) {
				t.Fatalf("state %d shape %v, want [%d 3]", s, outs[s].Shape().Dimensions, batch)
			}
			h = v.step(xs[(s*batch+b)*2:(s*batch+b)*2+2], h)
			got := tensors.MustCopyFlatData[float64](outs[s])[b*3 : b*3+3]
			for j := range h {
				if math.Abs(got[j]-h[j]) > 1e-13 {
					t.Errorf("step %d example %d unit %d: %.17g, want %.17g", s, b, j, got[j], h[j])
				}
			}
		}
	}
	// Variables: exactly the four gates' weights and biases, shared by all steps.
	n := 0
	for v := range ctx.IterVariables() {
		if v.Name() == "weights" || v.Name() == "biases" {
			n++
		}
	}
	if n != 8 {
		t.Errorf("GRU created %d weight/bias variables, want 8", n)
	}
}

// TestGRUGradient checks the gradient of a loss on a 3-step GRU with respect
// to the inputs and the initial state against finite differences, with the
// weights as fixed context variables.
func TestGRUGradient(t *testing.T) {
	v := fixedGRU()
	ctx := context.New()
	setGRU(ctx, v)
	b := backend.Shared()
	dims := [][]int{{3, 2}, {3, 2}, {3, 2}, {3, 3}}
	data := make([][]float64, len(dims))
	for i, d := range dims {
		data[i] = normals(uint64(40+i), size(d))
	}
	loss := func(ctx *context.Context, xs []*graph.Node) *graph.Node {
		hs := nn.GRU(ctx.Reuse(), xs[:3], xs[3])
		return graph.Add(weighted(hs[2]), weighted(graph.Square(hs[0])))
	}
	gradExec := context.MustNewExec(b, ctx, func(ctx *context.Context, xs []*graph.Node) []*graph.Node {
		return graph.Gradient(loss(ctx, xs), xs...)
	})
	lossExec := context.MustNewExec(b, ctx, loss)
	var grads [][]float64
	withWatchdog(t, func() {
		for _, g := range gradExec.MustExec(inputs(dims, data)...) {
			grads = append(grads, tensors.MustCopyFlatData[float64](g))
		}
	})
	const h = 1e-6
	for i := range data {
		var diff, norm float64
		for j := range data[i] {
			orig := data[i][j]
			data[i][j] = orig + h
			fp := lossExec.MustExec1(inputs(dims, data)...).Value().(float64)
			data[i][j] = orig - h
			fm := lossExec.MustExec1(inputs(dims, data)...).Value().(float64)
			data[i][j] = orig
			num := (fp - fm) / (2 * h)
			diff += (num - grads[i][j]) * (num - grads[i][j])
			norm += num * num
		}
		if rel := math.Sqrt(diff / norm); !(rel < 1e-7) {
			t.Errorf("input %d: gradient relative error %.3g, want < 1e-7", i, rel)
		}
	}
}

func TestGRUBadInput(t *testing.T) {
	_, err := context.ExecOnce(backend.Shared(), context.New(), func(ctx *context.Context, x, h *graph.Node) *graph.Node {
		return nn.GRUCell(ctx, x, h, 3)
	}, [][]float64{{1, 2}}, [][]float64{{1, 2}})
	if err == nil {
		t.Error("GRUCell with h of the wrong width: expected an error")
	}
}

package nn

import (
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// GRUCell is one step of a gated recurrent unit. With x shaped [batch, in]
// and h shaped [batch, hidden] it returns the next hidden state h', shaped
// [batch, hidden]:
//
//	r  = σ(W_r·[x, h] + b_r)              reset gate      (scope "reset")
//	z  = σ(W_z·[x, h] + b_z)              update gate     (scope "update")
//	n  = tanh(W_n·x + b_n + r ⊙ (U_n·h + c_n))  candidate (scopes "candidate_x", "candidate_h")
//	h' = (1 − z) ⊙ n + z ⊙ h
//
// [x, h] is the concatenation on the last axis. Each of the four linear maps
// is a Dense layer (weights and biases) in the named sub-scope of ctx; this is
// the parametrisation of PyTorch's torch.nn.GRU (whose W_ir, W_hr are the two
// row blocks of W_r here, and b_r = b_ir + b_hr). Leading axes beyond one
// batch axis are allowed, as in Dense.
func GRUCell(ctx *context.Context, x, h *graph.Node, hidden int) *graph.Node {
	if x == nil || h == nil {
		panicf("nn.GRUCell: x and h must not be nil")
	}
	if hidden < 1 {
		panicf("nn.GRUCell: hidden must be >= 1, got %d", hidden)
	}
	if h.Rank() != x.Rank() || h.Shape().Dim(-1) != hidden || h.DType() != x.DType() {
		panicf("nn.GRUCell: h must be shaped [..., %d] like x (%s), got %s", hidden, x.Shape(), h.Shape())
	}
	for i := 0; i < x.Rank()-1; i++ {
		if x.Shape().Dim(i) != h.Shape().Dim(i) {
			panicf("nn.GRUCell: x %s and h %s differ on batch axis %d", x.Shape(), h.Shape(), i)
		}
	}
	xh := graph.Concatenate([]*graph.Node{x, h}, -1)
	r := graph.Logistic(Dense(ctx.In("reset"), xh, hidden, true))
	z := graph.Logistic(Dense(ctx.In("update"), xh, hidden, true))
	n := FastTanh(graph.Add(Dense(ctx.In("candidate_x"), x, hidden, true),
		graph.Mul(r, Dense(ctx.In("candidate_h"), h, hidden, true))))
	// h' = n + z ⊙ (h − n).
	return graph.Add(n, graph.Mul(z, graph.Sub(h, n)))
}

// GRU runs GRUCell over a sequence: xs[t] shaped [batch, in], h0 shaped
// [batch, hidden] (hidden is taken from h0). It returns the hidden states
// after each step, hs[t] = GRUCell(xs[t], hs[t−1]) with hs[−1] = h0, all
// sharing one set of variables (the first step uses ctx, the others
// ctx.Reuse()). len(xs) must be ≥ 1.
func GRU(ctx *context.Context, xs []*graph.Node, h0 *graph.Node) []*graph.Node {
	if len(xs) == 0 {
		panicf("nn.GRU: xs is empty")
	}
	if h0 == nil || h0.Rank() < 1 {
		panicf("nn.GRU: h0 must be shaped [batch, hidden]")
	}
	hidden := h0.Shape().Dim(-1)
	hs := make([]*graph.Node, len(xs))
	h := h0
	for t, x := range xs {
		c := ctx
		if t > 0 {
			c = ctx.Reuse()
		}
		h = GRUCell(c, x, h, hidden)
		hs[t] = h
	}
	return hs
}

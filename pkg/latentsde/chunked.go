package latentsde

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/adjoint"
	"github.com/gosde/gosde/pkg/diffeq"
)

// The chunked direct method: the Euler–Maruyama solve runs in executable
// calls of at most TrainConfig.Chunk steps, keeping only the states at the
// chunk boundaries; the backward pass goes chunk by chunk from the end,
// each call recomputing its chunk's steps and backpropagating through them
// (checkpointed backprop). The gradients are those of the unrolled graph
// (the same arithmetic, grouped differently), and no graph holds more than
// Chunk steps, so compilation stays short on XLA.
//
// Executables (each compiled once per shape):
//
//	head:    X, Mask, eps0 → z0, KL(q(z0)‖p(z0)), contexts…
//	fwd[n]:  z, logqp, ts, hs, dW[, c] → z', logqp'           (n steps)
//	loss:    X, Mask, w, kl0, logqp_T, z(t_0)… → loss, loglik, KL, dL/dz(t_i)…, dL/dkl0, dL/dlogqp_T, decoder grads…
//	vjp[n]:  z, logqp, ts, hs, dW, ā, āsave, ℓ̄[, c, c̄], acc… → ā0[, c̄ + …], acc + …
//	headVJP: X, Mask, eps0, ā0, āsave0, kl̄0, c̄… → encoder grads…
//
// Trainer.applyGradients then runs the optimizer on the combined gradients.

// chunkPiece is a run of n solver steps from grid index start, inside one
// save interval.
type chunkPiece struct {
	start, n int
	ctxIdx   int // context used by its steps (-1: no encoder)
	save     int // index of the save time at its end, or -1
	ts, hs   *tensors.Tensor
}

// chunkPlan holds the executables and the plan of one set of observation
// times.
type chunkPlan struct {
	ts     []float64
	grid   []float64
	pieces []chunkPiece

	head, headVJP, loss *context.Exec
	fwd, vjp            map[int]*context.Exec

	// Variables differentiated by each part (context order), known after
	// the part's first build; vars is their union in context order.
	dynVars, headVars, lossVars, vars []*context.Variable
}

// newChunkPlan splits the grid of ts into pieces of at most chunk steps that
// never cross a save time.
func (t *Trainer) newChunkPlan(ts []float64, chunk int) (*chunkPlan, error) {
	m := t.model
	grid, saveIdx, err := m.Grid(ts)
	if err != nil {
		return nil, err
	}
	dt := m.cfg.DType
	p := &chunkPlan{ts: append([]float64(nil), ts...), grid: grid, fwd: map[int]*context.Exec{}, vjp: map[int]*context.Exec{}}
	for i := 1; i < len(saveIdx); i++ {
		for s := saveIdx[i-1]; s < saveIdx[i]; s += chunk {
			n := min(chunk, saveIdx[i]-s)
			pc := chunkPiece{start: s, n: n, ctxIdx: -1, save: -1}
			if s+n == saveIdx[i] {
				pc.save = i
			}
			if m.cfg.ContextDim > 0 {
				pc.ctxIdx = contextIndex(ts, grid[s+1])
				for k := s + 1; k < s+n; k++ {
					if contextIndex(ts, grid[k+1]) != pc.ctxIdx {
						return nil, fmt.Errorf("latentsde: internal error: the context changes inside a chunk at t=%g", grid[k+1])
					}
				}
			}
			tv, hv := make([]float64, n), make([]float64, n)
			for k := range n {
				tv[k], hv[k] = grid[s+k], grid[s+k+1]-grid[s+k]
			}
			pc.ts, pc.hs = diffeq.FromFloat64s(dt, tv, n), diffeq.FromFloat64s(dt, hv, n)
			p.pieces = append(p.pieces, pc)
		}
	}
	return p, nil
}

// vjpSum returns Σ_i ⟨outs[i], cots[i]⟩, the scalar whose gradient is the
// vector–Jacobian product.
func vjpSum(outs, cots []*Node) *Node {
	var s *Node
	for i, o := range outs {
		term := graph.ReduceAllSum(graph.Mul(o, cots[i]))
		if s == nil {
			s = term
		} else {
			s = graph.Add(s, term)
		}
	}
	return s
}

// headGraph: X, Mask, eps0 → z0, kl0, contexts… (none without an encoder).
func (t *Trainer) headGraph(ctx *context.Context, in []*Node, ts []float64) []*Node {
	m := t.model
	obs := Observations{X: in[0], Mask: in[1], Ts: ts}
	contexts, qm, qlv := m.Encode(ctx, obs)
	pm, plv := m.PriorZ0(ctx, in[0].Graph())
	return append([]*Node{Sample0(qm, qlv, in[2]), GaussianKL(qm, qlv, pm, plv)}, contexts...)
}

// chunkSteps unrolls n Euler–Maruyama steps of the posterior SDE with the KL
// path term, with step times ts (n,), steps hs (n,), increments dW (n,
// batch, d) and context c (nil: none).
func (t *Trainer) chunkSteps(ctx *context.Context, z, l, ts, hs, dW, c *Node) (*Node, *Node) {
	m := t.model
	n := ts.Shape().Dimensions[0]
	batch, d := z.Shape().Dimensions[0], z.Shape().Dimensions[1]
	sde := m.sde(c)
	for k := range n {
		tk := graph.Reshape(graph.Slice(ts, graph.AxisElem(k)))
		hk := graph.Reshape(graph.Slice(hs, graph.AxisElem(k)))
		noise := graph.Reshape(graph.Slice(dW, graph.AxisElem(k)), batch, d)
		z, l = EulerMaruyamaLogqpStep(ctx, sde, tk, hk, z, l, noise)
	}
	return z, l
}

// chunkExecs returns the forward and VJP executables for pieces of n steps.
func (t *Trainer) chunkExecs(p *chunkPlan, n int) (fwd, vjp *context.Exec, err error) {
	if e, ok := p.fwd[n]; ok {
		return e, p.vjp[n], nil
	}
	withCtx := t.model.cfg.ContextDim > 0
	fwd, err = context.NewExec(t.backend, t.ctx, func(ctx *context.Context, in []*Node) []*Node {
		var c *Node
		if withCtx {
			c = in[5]
		}
		z, l := t.chunkSteps(ctx, in[0], in[1], in[2], in[3], in[4], c)
		if p.dynVars == nil {
			p.dynVars = adjoint.UsedTrainable(ctx, z.Graph())
		}
		return []*Node{z, l}
	})
	if err != nil {
		return nil, nil, err
	}
	// in: z, l, ts, hs, dW, ā, āsave, ℓ̄ [, c, c̄], acc…
	vjp, err = context.NewExec(t.backend, t.ctx, func(ctx *context.Context, in []*Node) []*Node {
		z, l, ts, hs, dW, az, azSave, al := in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7]
		rest := in[8:]
		var c, ac *Node
		if withCtx {
			c, ac, rest = in[8], in[9], in[10:]
		}
		zEnd, lEnd := t.chunkSteps(ctx, z, l, ts, hs, dW, c)
		g := z.Graph()
		vars := adjoint.UsedTrainable(ctx, g)
		if len(vars) != len(rest) {
			panic(fmt.Errorf("latentsde: internal error: the chunk uses %d trainable variables, %d accumulators given", len(vars), len(rest)))
		}
		wrt := []*Node{z}
		if withCtx {
			wrt = append(wrt, c)
		}
		wrt = append(wrt, adjoint.ParamNodes(g, vars)...)
		grads := graph.Gradient(vjpSum([]*Node{zEnd, lEnd}, []*Node{graph.Add(az, azSave), al}), wrt...)
		out := []*Node{grads[0]}
		grads = grads[1:]
		if withCtx {
			out = append(out, graph.Add(ac, grads[0]))
			grads = grads[1:]
		}
		for i, gr := range grads {
			out = append(out, graph.Add(rest[i], gr))
		}
		return out
	})
	if err != nil {
		return nil, nil, err
	}
	p.fwd[n], p.vjp[n] = fwd, vjp
	return fwd, vjp, nil
}

// buildChunkPlan returns a plan for ts whose executables compile on first use.
func (t *Trainer) buildChunkPlan(ts []float64) (*chunkPlan, error) {
	p, err := t.newChunkPlan(ts, t.cfg.Chunk)
	if err != nil {
		return nil, err
	}
	m := t.model
	nT := len(ts)
	obsTs := p.ts
	if p.head, err = context.NewExec(t.backend, t.ctx, func(ctx *context.Context, in []*Node) []*Node {
		return t.headGraph(ctx, in, obsTs)
	}); err != nil {
		return nil, err
	}
	// in: X, Mask, eps0, ā0, āsave0, kl̄0, c̄…
	if p.headVJP, err = context.NewExec(t.backend, t.ctx, func(ctx *context.Context, in []*Node) []*Node {
		outs := t.headGraph(ctx, in[:3], obsTs)
		cots := append([]*Node{graph.Add(in[3], in[4])}, in[5:]...)
		g := in[0].Graph()
		if p.headVars == nil {
			p.headVars = adjoint.UsedTrainable(ctx, g)
		}
		if len(p.headVars) == 0 {
			return []*Node{graph.ScalarZero(g, m.cfg.DType)}
		}
		return graph.Gradient(vjpSum(outs, cots), adjoint.ParamNodes(g, p.headVars)...)
	}); err != nil {
		return nil, err
	}
	// in: X, Mask, w, kl0, logqp_T, z(t_0)…z(t_{T−1})
	if p.loss, err = context.NewExec(t.backend, t.ctx, func(ctx *context.Context, in []*Node) []*Node {
		obs := Observations{X: in[0], Mask: in[1], Ts: obsTs}
		zs := in[5 : 5+nT]
		ll, err := m.LogLikelihood(ctx, obs, zs)
		if err != nil {
			panic(err)
		}
		terms := ELBO(ll, graph.Add(in[3], in[4]), in[2])
		g := in[0].Graph()
		if p.lossVars == nil {
			p.lossVars = adjoint.UsedTrainable(ctx, g)
		}
		wrt := append(append([]*Node{}, zs...), in[3], in[4])
		wrt = append(wrt, adjoint.ParamNodes(g, p.lossVars)...)
		return append([]*Node{terms.Loss, terms.LogLik, terms.KL}, graph.Gradient(terms.Loss, wrt...)...)
	}); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *chunkPlan) finalize() {
	for _, e := range []*context.Exec{p.head, p.headVJP, p.loss} {
		e.Finalize()
	}
	for n := range p.fwd {
		p.fwd[n].Finalize()
		p.vjp[n].Finalize()
	}
}

// zerosTensor returns a tensor of zeros.
func zerosTensor(s shapes.Shape) *tensors.Tensor { return tensors.FromShape(s) }

// chunkGradients runs the chunked forward and backward passes on one batch
// (x, mask, eps0 and the increments dW, flat (steps, batch, d)) and returns
// the ELBO figures and the gradients of the loss with respect to p.vars.
func (t *Trainer) chunkGradients(p *chunkPlan, x, mask, eps0 *tensors.Tensor, dW []float64, w float64) (vals [3]float64, grads []*tensors.Tensor, err error) {
	c := t.model.cfg
	dt := c.DType
	batch, d := eps0.Shape().Dimensions[0], eps0.Shape().Dimensions[1]
	nT := len(p.ts)
	out, err := p.head.Exec(x, mask, eps0)
	if err != nil {
		return vals, nil, fmt.Errorf("encoder: %w", err)
	}
	z0, kl0, contexts := out[0], out[1], out[2:]
	zShape := shapes.Make(dt, batch, d)
	// Forward, keeping the chunk boundaries.
	type state struct{ z, l *tensors.Tensor }
	starts := make([]state, len(p.pieces))
	dWs := make([]*tensors.Tensor, len(p.pieces))
	zSave := make([]*tensors.Tensor, nT)
	zSave[0] = z0
	z, l := z0, zerosTensor(shapes.Make(dt, batch))
	for i, pc := range p.pieces {
		fwd, _, err := t.chunkExecs(p, pc.n)
		if err != nil {
			return vals, nil, err
		}
		starts[i] = state{z, l}
		dWs[i] = diffeq.FromFloat64s(dt, dW[pc.start*batch*d:(pc.start+pc.n)*batch*d], pc.n, batch, d)
		args := []any{z, l, pc.ts, pc.hs, dWs[i]}
		if pc.ctxIdx >= 0 {
			args = append(args, contexts[pc.ctxIdx])
		}
		o, err := fwd.Exec(args...)
		if err != nil {
			return vals, nil, fmt.Errorf("solve at t=%g: %w", p.grid[pc.start], err)
		}
		z, l = o[0], o[1]
		if pc.save >= 0 {
			zSave[pc.save] = z
		}
	}
	// Loss and its gradients.
	args := []any{x, mask, diffeq.ScalarTensor(dt, w), kl0, l}
	for _, zs := range zSave {
		args = append(args, zs)
	}
	lo, err := p.loss.Exec(args...)
	if err != nil {
		return vals, nil, fmt.Errorf("loss: %w", err)
	}
	for i := range vals {
		v, err := diffeq.Float64s(lo[i])
		if err != nil {
			return vals, nil, err
		}
		vals[i] = v[0]
	}
	if math.IsNaN(vals[0]) || math.IsInf(vals[0], 0) {
		return vals, nil, fmt.Errorf("the loss is %g", vals[0])
	}
	dZs, dKL0, dL, lossGrads := lo[3:3+nT], lo[3+nT], lo[4+nT], lo[5+nT:]
	// Backward, chunk by chunk.
	zero := zerosTensor(zShape)
	az := zero
	var ctxCot []*tensors.Tensor
	if c.ContextDim > 0 {
		ctxCot = make([]*tensors.Tensor, len(contexts))
		for i := range ctxCot {
			ctxCot[i] = zerosTensor(shapes.Make(dt, batch, c.ContextDim))
		}
	}
	var acc []*tensors.Tensor
	for i := len(p.pieces) - 1; i >= 0; i-- {
		pc := p.pieces[i]
		_, vjp, err := t.chunkExecs(p, pc.n)
		if err != nil {
			return vals, nil, err
		}
		if acc == nil {
			for _, v := range p.dynVars {
				acc = append(acc, zerosTensor(v.Shape()))
			}
		}
		azSave := zero
		if pc.save >= 0 {
			azSave = dZs[pc.save]
		}
		args := []any{starts[i].z, starts[i].l, pc.ts, pc.hs, dWs[i], az, azSave, dL}
		if pc.ctxIdx >= 0 {
			args = append(args, contexts[pc.ctxIdx], ctxCot[pc.ctxIdx])
		}
		for _, a := range acc {
			args = append(args, a)
		}
		o, err := vjp.Exec(args...)
		if err != nil {
			return vals, nil, fmt.Errorf("backward pass at t=%g: %w", p.grid[pc.start], err)
		}
		az, o = o[0], o[1:]
		if pc.ctxIdx >= 0 {
			ctxCot[pc.ctxIdx], o = o[0], o[1:]
		}
		acc = o
	}
	hargs := []any{x, mask, eps0, az, dZs[0], dKL0}
	for _, cc := range ctxCot {
		hargs = append(hargs, cc)
	}
	headGrads, err := p.headVJP.Exec(hargs...)
	if err != nil {
		return vals, nil, fmt.Errorf("encoder gradient: %w", err)
	}
	if len(p.headVars) == 0 {
		headGrads = nil
	}
	return vals, p.mergeGrads(t.ctx, [][]*context.Variable{p.dynVars, p.headVars, p.lossVars}, [][]*tensors.Tensor{acc, headGrads, lossGrads}), nil
}

// mergeGrads sets p.vars to the union of the parts' variables (context
// order) and returns their gradients, summed where a variable appears in
// several parts.
func (p *chunkPlan) mergeGrads(ctx *context.Context, vars [][]*context.Variable, grads [][]*tensors.Tensor) []*tensors.Tensor {
	byVar := map[*context.Variable][]*tensors.Tensor{}
	for i, vs := range vars {
		for j, v := range vs {
			byVar[v] = append(byVar[v], grads[i][j])
		}
	}
	p.vars = p.vars[:0]
	var out []*tensors.Tensor
	for v := range ctx.IterVariables() {
		gs, ok := byVar[v]
		if !ok {
			continue
		}
		p.vars = append(p.vars, v)
		if len(gs) == 1 {
			out = append(out, gs[0])
			continue
		}
		sum := make([]float64, v.Shape().Size())
		for _, g := range gs {
			vals, err := diffeq.Float64s(g)
			if err != nil {
				panic(err)
			}
			for k := range sum {
				sum[k] += vals[k]
			}
		}
		out = append(out, diffeq.FromFloat64s(v.DType(), sum, v.Shape().Dimensions...))
	}
	return out
}

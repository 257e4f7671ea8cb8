package adjoint

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/diffeq"
)

// chunked is the Checkpointed gradient of an ODE model: the solve runs in
// executables of a fixed number of steps, whose step times and sizes are
// inputs, and the backward pass recomputes each chunk in a vector–Jacobian
// product executable, last chunk first. Both executables have one shape
// whatever the number of steps or the step plan, so they compile once per
// state shape; a plan shorter than a whole number of chunks is padded with
// steps of size zero, which leave the state unchanged.
//
// Every step yields terms from which the states at the save times are
// combined on the host: Dopri5's five dense-output terms (a save time
// inside a step takes the dense output there, as with Direct), or for a
// fixed-step method the state after the step.
type chunked struct {
	t        *Trainer
	k        int
	dopri    bool
	fwd, vjp *context.Exec
	dynVars  []*context.Variable

	// SDE models: the form and method of the Direct solve; the chunk
	// executables also take the Brownian increments (K, batch, m).
	sde    *diffeq.SDE
	method diffeq.Method
}

func newChunked(t *Trainer) (*chunked, error) {
	// Solver.Chunk as the host solves use it.
	c := &chunked{t: t, k: t.cfg.Solver.Chunk}
	if c.k == 0 {
		c.k = 16
	}
	if t.ode != nil {
		m := t.ode.opts.Solver.Method
		c.dopri = m == diffeq.Dopri5
		if !c.dopri && m.IsAdaptive() {
			return nil, fmt.Errorf("adjoint.NewTrainer: Checkpointed supports dopri5 and the fixed-step methods, got %q", m)
		}
	} else {
		c.method = t.sde.method
		if c.method == diffeq.ReversibleHeun {
			return nil, fmt.Errorf("adjoint.NewTrainer: Checkpointed does not take reversible_heun (use Method reversible)")
		}
		form, err := solvedForm(t.sde.sde, c.method)
		if err != nil {
			return nil, fmt.Errorf("adjoint.NewTrainer: %w", err)
		}
		c.sde = &form
	}
	var err error
	fwd, vjp := any(c.fwdGraph), any(c.vjpGraph)
	if c.sde != nil {
		fwd = c.fwdGraphSDE
	}
	if c.fwd, err = context.NewExecAny(t.backend, t.ctx, fwd); err != nil {
		return nil, err
	}
	if c.vjp, err = context.NewExecAny(t.backend, t.ctx, vjp); err != nil {
		return nil, err
	}
	return c, nil
}

// terms returns the number of terms per step.
func (c *chunked) terms() int {
	if c.dopri {
		return diffeq.DenseTerms
	}
	return 1
}

// run builds the chunk's steps from z; steps is (K, 2): the start time and
// size of each step; dW (SDEs) is (K, batch, m), the Brownian increments of
// the steps. It returns the state after the chunk and the terms (K, T,
// batch, d).
func (c *chunked) run(ctx *context.Context, z, steps, dW *Node) (zEnd, terms *Node) {
	ctx = ctx.In(DynamicsScope)
	steps = graph.ConvertDType(steps, z.DType())
	var k1 *Node
	var all []*Node
	for k := range c.k {
		t := graph.Reshape(graph.Slice(steps, graph.AxisElem(k), graph.AxisElem(0)))
		h := graph.Reshape(graph.Slice(steps, graph.AxisElem(k), graph.AxisElem(1)))
		if c.sde != nil {
			w := graph.Reshape(graph.Slice(dW, graph.AxisElem(k)), dW.Shape().Dimensions[1:]...)
			z = must(diffeq.StepSDE(ctx, *c.sde, c.method, t, h, z, graph.ConvertDType(w, z.DType())))
			all = append(all, graph.ExpandAxes(z, 0))
			continue
		}
		f, m := c.t.model.ODE, c.t.ode.opts.Solver.Method
		if c.dopri {
			if k1 == nil {
				k1 = f(ctx.Checked(false), t, z)
			}
			var ts [diffeq.DenseTerms]*Node
			z, k1, ts = diffeq.Dopri5DenseStep(ctx, f, t, h, z, k1)
			for _, r := range ts {
				all = append(all, graph.ExpandAxes(r, 0))
			}
			continue
		}
		z = must(diffeq.StepODE(ctx, m, f, t, h, z))
		all = append(all, graph.ExpandAxes(z, 0))
	}
	dims := append([]int{c.k, c.terms()}, z.Shape().Dimensions...)
	return z, graph.Reshape(graph.Concatenate(all, 0), dims...)
}

// fwdGraph: z, steps (K, 2) → z after the chunk, terms (K, T, batch, d).
func (c *chunked) fwdGraph(ctx *context.Context, z, steps *Node) []*Node {
	zEnd, terms := c.run(ctx, z, steps, nil)
	return []*Node{zEnd, terms}
}

// fwdGraphSDE is fwdGraph with the Brownian increments dW (K, batch, m).
func (c *chunked) fwdGraphSDE(ctx *context.Context, z, steps, dW *Node) []*Node {
	zEnd, terms := c.run(ctx, z, steps, dW)
	return []*Node{zEnd, terms}
}

// vjpGraph: z, steps, the cotangents of the terms and of the end state
// [, dW] → the cotangent of z and the gradients of the dynamics' weights.
func (c *chunked) vjpGraph(ctx *context.Context, in []*Node) []*Node {
	z := graph.Identity(in[0])
	var dW *Node
	if c.sde != nil {
		dW = in[4]
	}
	zEnd, terms := c.run(ctx, z, in[1], dW)
	s := graph.Add(graph.ReduceAllSum(graph.Mul(terms, in[2])), graph.ReduceAllSum(graph.Mul(zEnd, in[3])))
	g := s.Graph()
	vars := usedTrainable(ctx, g)
	grads := graph.Gradient(s, append([]*Node{z}, paramNodes(g, vars)...)...)
	return grads
}

// plan returns the steps (t, h) of the solve over ts and, per save time,
// the step it falls in (−1: the initial state) and the weights of that
// step's terms; hostNFE counts the evaluations of a planning solve.
func (c *chunked) plan(inputs []*tensors.Tensor, ts []float64) (steps [][2]float64, at []int, w [][]float64, hostNFE int, err error) {
	t := c.t
	if c.sde != nil {
		grid, saveIdx, err := diffeq.SDEGrid(ts, t.cfg.Solver.Dt)
		if err != nil {
			return nil, nil, nil, 0, fmt.Errorf("adjoint.Trainer: %w", err)
		}
		for k := range len(grid) - 1 {
			steps = append(steps, [2]float64{grid[k], grid[k+1] - grid[k]})
		}
		for _, k := range saveIdx {
			at, w = append(at, k-1), append(w, []float64{1})
		}
		return steps, at, w, 0, nil
	}
	if c.dopri {
		p, nfe, _, err := t.odePlan(inputs, ts)
		if err != nil {
			return nil, nil, nil, 0, err
		}
		for k := range p.Len() {
			steps = append(steps, [2]float64{p.Times[k], p.Times[k+1] - p.Times[k]})
		}
		for i := range ts {
			dw := diffeq.DenseWeights(p.Theta[i])
			at, w = append(at, p.Step[i]), append(w, dw[:])
		}
		return steps, at, w, nfe, nil
	}
	n, err := t.odeSubsteps(ts)
	if err != nil {
		return nil, nil, nil, 0, err
	}
	at, w = append(at, -1), append(w, nil)
	for i := 1; i < len(ts); i++ {
		h := (ts[i] - ts[i-1]) / float64(n)
		for j := range n {
			steps = append(steps, [2]float64{ts[i-1] + float64(j)*h, h})
		}
		at, w = append(at, len(steps)-1), append(w, []float64{1})
	}
	return steps, at, w, 0, nil
}

// gradients runs encoder → chunked solve → loss → chunked VJP → encoder
// VJP and returns the loss and the gradients of t.vars.
func (c *chunked) gradients(inputs []*tensors.Tensor, ts []float64) (float64, []*tensors.Tensor, error) {
	t := c.t
	t.nfe = diffeq.NFE{}
	if err := t.checkInputs(inputs, ts); err != nil {
		return 0, nil, err
	}
	t.nIn = len(inputs)
	out, err := t.enc.Exec(anys(inputs)...)
	if err != nil {
		return 0, nil, fmt.Errorf("adjoint.Trainer: encoder: %w", err)
	}
	z0, extras := out[0], out[1:]
	steps, at, w, hostNFE, err := c.plan(inputs, ts)
	if err != nil {
		return 0, nil, err
	}
	dtype, dims := z0.DType(), z0.Shape().Dimensions
	size := z0.Shape().Size()
	nChunks := (len(steps) + c.k - 1) / c.k
	nT := c.terms()
	var perEval int
	var bm *diffeq.Brownian
	switch {
	case c.sde != nil:
		perEval = diffeq.SDENFEPerStep(c.method)
		if bm, err = t.brownian(z0, ts); err != nil {
			return 0, nil, err
		}
	case c.dopri:
		perEval = 6
	default:
		perEval = t.ode.opts.Solver.Method.NFEPerStep()
	}
	t.nfe.Forward = hostNFE + nChunks*c.k*perEval
	t.nfe.Backward = t.nfe.Forward - hostNFE

	// Forward, keeping the state at the start of every chunk and the terms.
	stepIn := make([]*tensors.Tensor, nChunks)
	noise := make([]*tensors.Tensor, nChunks)
	starts := make([]*tensors.Tensor, nChunks)
	terms := make([][]float64, nChunks)
	z := z0
	for ch := range nChunks {
		sv := make([]float64, 2*c.k)
		for j := range c.k {
			if k := ch*c.k + j; k < len(steps) {
				sv[2*j], sv[2*j+1] = steps[k][0], steps[k][1]
			} else {
				sv[2*j] = steps[len(steps)-1][0] + steps[len(steps)-1][1]
			}
		}
		stepIn[ch] = diffeq.FromFloat64s(dtype, sv, c.k, 2)
		starts[ch] = z
		args := []any{z, stepIn[ch]}
		if bm != nil {
			noise[ch] = chunkNoise(bm, steps, ch*c.k, c.k, dtype)
			args = append(args, noise[ch])
		}
		res, err := c.fwd.Exec(args...)
		if err != nil {
			return 0, nil, fmt.Errorf("adjoint.Trainer: checkpointed forward, chunk %d: %w", ch, err)
		}
		z = res[0]
		if terms[ch], err = diffeq.Float64s(res[1]); err != nil {
			return 0, nil, err
		}
	}
	term := func(k, j int) []float64 { // term j of step k
		off := ((k%c.k)*nT + j) * size
		return terms[k/c.k][off : off+size]
	}
	z0v, err := diffeq.Float64s(z0)
	if err != nil {
		return 0, nil, err
	}
	ys := make([]*tensors.Tensor, len(ts))
	for i := range ts {
		y := make([]float64, size)
		if at[i] < 0 {
			copy(y, z0v)
		} else {
			for j, wj := range w[i] {
				if wj != 0 {
					for e, v := range term(at[i], j) {
						y[e] += wj * v
					}
				}
			}
		}
		if err := diffeq.CheckFinite(fmt.Sprintf("state at ts[%d] = %g", i, ts[i]), y); err != nil {
			return 0, nil, fmt.Errorf("adjoint.Trainer: checkpointed forward: %w", err)
		}
		ys[i] = diffeq.FromFloat64s(dtype, y, dims...)
	}

	// Loss and its gradients with respect to the save states.
	t.nZ, t.nEx = len(ys), len(extras)
	args := append(append(append([]*tensors.Tensor{}, inputs...), ys...), extras...)
	lo, g, err := t.loss.ExecWithGraph(anys(args)...)
	if err != nil {
		return 0, nil, fmt.Errorf("adjoint.Trainer: loss: %w", err)
	}
	lossV := vec(lo[0])[0]
	if math.IsNaN(lossV) || math.IsInf(lossV, 0) {
		return 0, nil, fmt.Errorf("adjoint.Trainer: the loss is not finite (%g)", lossV)
	}
	dZs, dEx, dDec := lo[1:1+t.nZ], lo[1+t.nZ:1+t.nZ+t.nEx], lo[1+t.nZ+t.nEx:]
	acc := gradAcc{}
	acc.add(usedTrainable(t.ctx, g), dDec)

	// The cotangents of the terms, then the chunks backwards.
	cot := make([][]float64, nChunks)
	for ch := range cot {
		cot[ch] = make([]float64, c.k*nT*size)
	}
	a := make([]float64, size) // cotangent of the current chunk's end state
	for i := range ts {
		dy := vec(dZs[i])
		if at[i] < 0 {
			// z0 itself: added after the backward pass.
			continue
		}
		k := at[i]
		for j, wj := range w[i] {
			off := ((k%c.k)*nT + j) * size
			dst := cot[k/c.k][off : off+size]
			for e, v := range dy {
				dst[e] += wj * v
			}
		}
	}
	for ch := nChunks - 1; ch >= 0; ch-- {
		args := []any{starts[ch], stepIn[ch],
			diffeq.FromFloat64s(dtype, cot[ch], append([]int{c.k, nT}, dims...)...), diffeq.FromFloat64s(dtype, a, dims...)}
		if bm != nil {
			args = append(args, noise[ch])
		}
		res, g, err := c.vjp.ExecWithGraph(args...)
		if err != nil {
			return 0, nil, fmt.Errorf("adjoint.Trainer: checkpointed backward, chunk %d: %w", ch, err)
		}
		if c.dynVars == nil {
			c.dynVars = usedTrainable(t.ctx, g)
		}
		a = vec(res[0])
		acc.add(c.dynVars, res[1:])
	}
	for i := range ts {
		if at[i] < 0 {
			addInto(a, dZs[i])
		}
	}
	if err := diffeq.CheckFinite("dL/dz0", a); err != nil {
		return 0, nil, fmt.Errorf("adjoint.Trainer: checkpointed backward: %w", err)
	}
	if t.model.Encode != nil {
		cotIn := append([]*tensors.Tensor{diffeq.FromFloat64s(dtype, a, dims...)}, dEx...)
		encOut, g, err := t.encVJP.ExecWithGraph(anys(append(append([]*tensors.Tensor{}, inputs...), cotIn...))...)
		if err != nil {
			return 0, nil, fmt.Errorf("adjoint.Trainer: encoder gradient: %w", err)
		}
		if vars := usedTrainable(t.ctx, g); len(vars) > 0 {
			acc.add(vars, encOut)
		}
	}
	return lossV, t.collect(acc), nil
}

// chunkNoise returns the Brownian increments (K, batch, m) of the steps
// from first to first+K−1, zero for the padding steps past the end.
func chunkNoise(bm *diffeq.Brownian, steps [][2]float64, first, k int, dtype dtypes.DType) *tensors.Tensor {
	batch, m := bm.Shape()
	v := make([]float64, k*batch*m)
	for j := range k {
		if s := first + j; s < len(steps) {
			copy(v[j*batch*m:], bm.Increment(steps[s][0], steps[s][0]+steps[s][1]))
		}
	}
	return diffeq.FromFloat64s(dtype, v, k, batch, m)
}

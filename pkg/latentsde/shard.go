package latentsde

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train"

	"github.com/gosde/gosde/pkg/adjoint"
	"github.com/gosde/gosde/pkg/diffeq"
)

// shardEngine computes the loss figures and gradients of one row block of
// the batch: chunked (plan) or through one unrolled graph (exec).
type shardEngine struct {
	plan *chunkPlan
	exec *context.Exec
	vars []*context.Variable // exec's differentiated variables, context order
}

// shardInput is one shard's part of a step's inputs.
type shardInput struct {
	x, mask, eps0 *tensors.Tensor
	dW            []float64 // (steps, rows, d), flat
}

// gradResult is one shard's output.
type gradResult struct {
	vals  [3]float64
	vars  []*context.Variable
	grads []*tensors.Tensor
	err   error
}

// engineSet returns the engines for observation times ts (rebuilt when
// they change).
func (t *Trainer) engineSet(ts []float64) ([]*shardEngine, error) {
	if t.engines != nil && slices.Equal(ts, t.engTs) {
		return t.engines, nil
	}
	for _, e := range t.engines {
		e.finalize()
	}
	t.engines, t.engWarm = nil, false
	ts = append([]float64(nil), ts...)
	for range max(1, t.cfg.Shards) {
		e := &shardEngine{}
		if t.cfg.Chunk > 0 {
			p, err := t.buildChunkPlan(ts)
			if err != nil {
				return nil, err
			}
			e.plan = p
		} else {
			m := t.model
			var err error
			e.exec, err = context.NewExec(t.backend, t.ctx, func(ctx *context.Context, in []*Node) []*Node {
				terms, err := m.ELBOGraph(ctx, Observations{X: in[0], Mask: in[1], Ts: ts}, in[2], in[3], in[4])
				if err != nil {
					panic(err)
				}
				g := in[0].Graph()
				e.vars = adjoint.UsedTrainable(ctx, g)
				return append([]*Node{terms.Loss, terms.LogLik, terms.KL}, graph.Gradient(terms.Loss, adjoint.ParamNodes(g, e.vars)...)...)
			})
			if err != nil {
				return nil, err
			}
		}
		t.engines = append(t.engines, e)
	}
	t.engTs = ts
	return t.engines, nil
}

func (e *shardEngine) finalize() {
	if e.plan != nil {
		e.plan.finalize()
	}
	if e.exec != nil {
		e.exec.Finalize()
	}
}

// run computes one shard's figures and gradients.
func (e *shardEngine) run(t *Trainer, in shardInput, w float64) gradResult {
	dt := t.model.cfg.DType
	if e.plan != nil {
		vals, grads, err := t.chunkGradients(e.plan, in.x, in.mask, in.eps0, in.dW, w)
		return gradResult{vals: vals, vars: e.plan.vars, grads: grads, err: err}
	}
	batch, d := in.eps0.Shape().Dimensions[0], in.eps0.Shape().Dimensions[1]
	dW := diffeq.FromFloat64s(dt, in.dW, len(in.dW)/(batch*d), batch, d)
	out, err := e.exec.Exec(in.x, in.mask, in.eps0, dW, diffeq.ScalarTensor(dt, w))
	if err != nil {
		return gradResult{err: err}
	}
	var r gradResult
	for i := range r.vals {
		v, err := diffeq.Float64s(out[i])
		if err != nil {
			return gradResult{err: err}
		}
		r.vals[i] = v[0]
	}
	r.vars, r.grads = e.vars, out[3:]
	return r
}

// splitInputs returns the step's inputs split into the shards' row blocks
// (the noise drawn for the whole batch, so that the shards see exactly the
// noise of an unsharded step).
func (t *Trainer) splitInputs(data Data, grid []float64, shards int) ([]shardInput, []int, error) {
	c := t.model.cfg
	batch := data.X.Shape().Dimensions[0]
	e, w := t.noiseValues(uint64(t.step)+1, batch, grid)
	mask := data.Mask
	if mask == nil {
		mask = onesLike(data.X, c.DType)
	}
	x, mask := castTo(data.X, c.DType), castTo(mask, c.DType)
	sizes := diffeq.ShardSizes(batch, shards)
	if len(sizes) == 1 {
		return []shardInput{{x: x, mask: mask, eps0: diffeq.FromFloat64s(c.DType, e, batch, c.LatentDim), dW: w}}, sizes, nil
	}
	xs, err := diffeq.SplitRows(x, 0, sizes)
	if err != nil {
		return nil, nil, err
	}
	ms, err := diffeq.SplitRows(mask, 0, sizes)
	if err != nil {
		return nil, nil, err
	}
	d, steps := c.LatentDim, len(grid)-1
	out := make([]shardInput, len(sizes))
	row := 0
	for s, n := range sizes {
		dw := make([]float64, 0, steps*n*d)
		for k := range steps {
			dw = append(dw, w[(k*batch+row)*d:(k*batch+row+n)*d]...)
		}
		out[s] = shardInput{x: xs[s], mask: ms[s], eps0: diffeq.FromFloat64s(c.DType, e[row*d:(row+n)*d], n, d), dW: dw}
		row += n
	}
	return out, sizes, nil
}

// gradients returns the loss figures and the gradients (ordered as the
// returned variables, context order) of the current step's noise on data,
// without updating the weights.
func (t *Trainer) gradients(data Data) ([3]float64, []*context.Variable, []*tensors.Tensor, error) {
	var vals [3]float64
	engines, err := t.engineSet(data.Ts)
	if err != nil {
		return vals, nil, nil, err
	}
	grid, _, err := t.model.Grid(data.Ts)
	if err != nil {
		return vals, nil, nil, err
	}
	ins, sizes, err := t.splitInputs(data, grid, len(engines))
	if err != nil {
		return vals, nil, nil, err
	}
	w := t.cfg.Schedule.Weight(t.step)
	res := make([]gradResult, len(ins))
	if len(ins) == 1 || !t.engWarm {
		// The first call builds the graphs, which touches the context's
		// maps: one shard after the other.
		for s := range ins {
			res[s] = engines[s].run(t, ins[s], w)
		}
	} else {
		var wg sync.WaitGroup
		for s := range ins {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res[s] = engines[s].run(t, ins[s], w)
			}()
		}
		wg.Wait()
	}
	for s, r := range res {
		if r.err != nil {
			return vals, nil, nil, fmt.Errorf("shard %d: %w", s, r.err)
		}
	}
	t.engWarm = true
	if len(res) == 1 {
		return res[0].vals, res[0].vars, res[0].grads, nil
	}
	// Batch means: each shard's mean weighted by its share of the rows.
	batch := data.X.Shape().Dimensions[0]
	vars := res[0].vars
	sums := make([][]float64, len(vars))
	for s, r := range res {
		if len(r.vars) != len(vars) {
			return vals, nil, nil, fmt.Errorf("latentsde: internal error: shards differentiate %d and %d variables", len(vars), len(r.vars))
		}
		share := float64(sizes[s]) / float64(batch)
		for i := range vals {
			vals[i] += share * r.vals[i]
		}
		for i, g := range r.grads {
			v, err := diffeq.Float64s(g)
			if err != nil {
				return vals, nil, nil, err
			}
			if sums[i] == nil {
				sums[i] = make([]float64, len(v))
			}
			for k := range v {
				sums[i][k] += share * v[k]
			}
		}
	}
	grads := make([]*tensors.Tensor, len(vars))
	for i, v := range vars {
		grads[i] = diffeq.FromFloat64s(v.DType(), sums[i], v.Shape().Dimensions...)
	}
	return vals, vars, grads, nil
}

// splitStep is Step with Chunk > 0 or Shards > 1 (data already validated).
func (t *Trainer) splitStep(data Data, start time.Time) (StepStats, error) {
	vals, vars, grads, err := t.gradients(data)
	if err != nil {
		return StepStats{}, fmt.Errorf("latentsde.Trainer.Step: %w", err)
	}
	if math.IsNaN(vals[0]) || math.IsInf(vals[0], 0) {
		return StepStats{}, fmt.Errorf("latentsde.Trainer.Step: loss is %g at step %d", vals[0], t.step+1)
	}
	if err := t.applyGradients(vars, grads); err != nil {
		return StepStats{}, fmt.Errorf("latentsde.Trainer.Step: optimizer update: %w", err)
	}
	w := t.cfg.Schedule.Weight(t.step)
	t.step++
	return StepStats{Step: t.step, KLWeight: w, Loss: vals[0], LogLik: vals[1], KL: vals[2], Seconds: time.Since(start).Seconds()}, nil
}

// applyGradients runs the optimizer on vars (context order) with grads.
func (t *Trainer) applyGradients(vars []*context.Variable, grads []*tensors.Tensor) error {
	if len(vars) == 0 {
		return fmt.Errorf("the model has no trainable variables")
	}
	if t.update == nil || !slices.Equal(vars, t.updVars) {
		if t.update != nil {
			t.update.Finalize()
		}
		opt, ok := t.opt.(train.OptimizeWithGradients)
		if !ok {
			return fmt.Errorf("optimizer %T cannot take gradients", t.opt)
		}
		vs := append([]*context.Variable(nil), vars...)
		var err error
		t.update, err = context.NewExec(t.backend, t.ctx, func(ctx *context.Context, grads []*Node) *Node {
			g := grads[0].Graph()
			for _, v := range vs {
				v.ValueGraph(g)
			}
			opt.UpdateGraphWithGradients(ctx, grads, grads[0].DType())
			return graph.ScalarZero(g, grads[0].DType())
		})
		if err != nil {
			return err
		}
		t.updVars = vs
	}
	_, err := t.update.Exec(anys(grads)...)
	return err
}

func anys(ts []*tensors.Tensor) []any {
	out := make([]any, len(ts))
	for i, x := range ts {
		out[i] = x
	}
	return out
}

// isEmbedded reports whether b is GoMLX's pure-Go backend (simplego),
// wrapped or not.
func isEmbedded(b backends.Backend) bool { return strings.Contains(b.Name(), "(go)") }

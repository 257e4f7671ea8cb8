package adjoint

import (
	"fmt"
	"sync"

	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/gosde/gosde/pkg/diffeq"
)

// Data-parallel training (TrainerConfig.Shards): the batch is split into row
// blocks, each block's loss and gradients are computed by its own Trainer
// (its own executables, the same weights) on its own goroutine, and the
// results are combined as the weighted mean that the whole batch's loss is.
// GoMLX's pure-Go backend runs one operation at a time, so this is how a
// training step uses more than one core there.

// newShards returns cfg.Shards trainers for the row blocks of t.
func (t *Trainer) newShards() error {
	m := t.model
	if len(m.BatchAxes) == 0 {
		return fmt.Errorf("adjoint.NewTrainer: TrainerConfig.Shards = %d needs Model.BatchAxes", t.cfg.Shards)
	}
	cfg := t.cfg
	cfg.Shards = 0
	for range t.cfg.Shards {
		s, err := NewTrainer(t.backend, t.ctx, m, cfg)
		if err != nil {
			return err
		}
		t.shards = append(t.shards, s)
	}
	return nil
}

// splitBatch splits the batched inputs into row blocks; shared inputs go to
// every block. It returns the blocks and the batch size.
func (t *Trainer) splitBatch(inputs []*tensors.Tensor) (parts [][]*tensors.Tensor, batch int, err error) {
	axes := t.model.BatchAxes
	if len(axes) != len(inputs) {
		return nil, 0, fmt.Errorf("adjoint.Trainer: Model.BatchAxes has %d entries for %d inputs", len(axes), len(inputs))
	}
	batch = -1
	for i, a := range axes {
		if a < 0 {
			continue
		}
		if inputs[i] == nil || a >= inputs[i].Shape().Rank() {
			return nil, 0, fmt.Errorf("adjoint.Trainer: inputs[%d] has no axis %d (Model.BatchAxes)", i, a)
		}
		n := inputs[i].Shape().Dimensions[a]
		if batch >= 0 && n != batch {
			return nil, 0, fmt.Errorf("adjoint.Trainer: inputs[%d] has %d rows on its batch axis %d, another input %d", i, n, a, batch)
		}
		batch = n
	}
	if batch < 0 {
		return nil, 0, fmt.Errorf("adjoint.Trainer: Model.BatchAxes names no batch axis")
	}
	sizes := diffeq.ShardSizes(batch, len(t.shards))
	parts = make([][]*tensors.Tensor, len(sizes))
	for p := range parts {
		parts[p] = make([]*tensors.Tensor, len(inputs))
	}
	for i, x := range inputs {
		if axes[i] < 0 {
			for p := range parts {
				parts[p][i] = x
			}
			continue
		}
		pieces, err := diffeq.SplitRows(x, axes[i], sizes)
		if err != nil {
			return nil, 0, fmt.Errorf("adjoint.Trainer: splitting inputs[%d]: %w", i, err)
		}
		for p := range parts {
			parts[p][i] = pieces[p]
		}
	}
	return parts, batch, nil
}

// shardedGradients computes the loss and gradients of a batch over the
// shards and combines them.
func (t *Trainer) shardedGradients(inputs []*tensors.Tensor, ts []float64) (float64, []*tensors.Tensor, error) {
	parts, batch, err := t.splitBatch(inputs)
	if err != nil {
		return 0, nil, err
	}
	n := len(parts)
	losses := make([]float64, n)
	grads := make([][]*tensors.Tensor, n)
	errs := make([]error, n)
	lo := 0
	for p, s := range t.shards[:n] {
		rows := batchRows(parts[p], t.model.BatchAxes)
		s.steps, s.rows = t.steps, [3]int{lo, lo + rows, batch}
		lo += rows
	}
	run := func(p int) { losses[p], grads[p], errs[p] = t.shards[p].Gradients(parts[p], ts) }
	if t.shardsWarm {
		var wg sync.WaitGroup
		for p := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				run(p)
			}()
		}
		wg.Wait()
	} else {
		// The first step compiles and may initialise variables in the
		// shared context: one shard after the other.
		for p := range n {
			run(p)
		}
	}
	for p, err := range errs {
		if err != nil {
			return 0, nil, fmt.Errorf("shard %d: %w", p, err)
		}
	}
	t.shardsWarm = true
	weights := make([]float64, n)
	total := 0.0
	for p := range n {
		weights[p] = float64(batchRows(parts[p], t.model.BatchAxes))
		if t.model.Weight != nil {
			weights[p] = t.model.Weight(parts[p])
		}
		total += weights[p]
	}
	if !(total > 0) {
		return 0, nil, fmt.Errorf("adjoint.Trainer: the shards' weights add up to %g (Model.Weight)", total)
	}
	vars := t.shards[0].Vars()
	var loss float64
	acc := make([][]float64, len(vars))
	t.nfe = diffeq.NFE{}
	for p := range n {
		s := t.shards[p]
		if sv := s.Vars(); len(sv) != len(vars) || len(grads[p]) != len(vars) {
			return 0, nil, fmt.Errorf("adjoint.Trainer: shard %d has gradients of %d variables, shard 0 of %d", p, len(sv), len(vars))
		}
		w := weights[p] / total
		loss += w * losses[p]
		for i, g := range grads[p] {
			if s.Vars()[i] != vars[i] {
				return 0, nil, fmt.Errorf("adjoint.Trainer: shard %d's variable %d is %s, shard 0's %s", p, i, s.Vars()[i].ScopeAndName(), vars[i].ScopeAndName())
			}
			v := vec(g)
			if acc[i] == nil {
				acc[i] = make([]float64, len(v))
			}
			for j, x := range v {
				acc[i][j] += w * x
			}
		}
		t.nfe.Forward = max(t.nfe.Forward, s.nfe.Forward)
		t.nfe.Backward = max(t.nfe.Backward, s.nfe.Backward)
	}
	t.vars = vars
	out := make([]*tensors.Tensor, len(vars))
	for i, v := range vars {
		out[i] = diffeq.FromFloat64s(v.DType(), acc[i], v.Shape().Dimensions...)
	}
	return loss, out, nil
}

// batchRows returns the rows of a block: the size of the first batched
// input's batch axis.
func batchRows(inputs []*tensors.Tensor, axes []int) int {
	for i, a := range axes {
		if a >= 0 {
			return inputs[i].Shape().Dimensions[a]
		}
	}
	return 0
}

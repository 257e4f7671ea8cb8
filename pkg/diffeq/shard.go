package diffeq

import (
	"fmt"
	"slices"
	"sync"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// ShardSizes splits a batch of n samples into p contiguous shards whose sizes
// differ by at most one (the first n mod p shards get the extra sample).
// Shards are never empty: p is reduced to n when n < p.
func ShardSizes(n, p int) []int {
	p = max(1, min(p, n))
	sizes := make([]int, p)
	for i := range sizes {
		sizes[i] = n / p
		if i < n%p {
			sizes[i]++
		}
	}
	return sizes
}

// SplitRows splits t along axis into consecutive pieces of the given sizes
// (which must add up to t's dimension on that axis), copying the data into
// new tensors.
func SplitRows(t *tensors.Tensor, axis int, sizes []int) ([]*tensors.Tensor, error) {
	shape := t.Shape()
	if axis < 0 || axis >= shape.Rank() {
		return nil, fmt.Errorf("diffeq.SplitRows: axis %d out of range for shape %s", axis, shape)
	}
	total := 0
	for _, s := range sizes {
		if s < 0 {
			return nil, fmt.Errorf("diffeq.SplitRows: negative size in %v", sizes)
		}
		total += s
	}
	if total != shape.Dimensions[axis] {
		return nil, fmt.Errorf("diffeq.SplitRows: sizes %v add up to %d, axis %d of shape %s has %d", sizes, total, axis, shape, shape.Dimensions[axis])
	}
	outer, inner := 1, shape.DType.Size()
	for i, d := range shape.Dimensions {
		if i < axis {
			outer *= d
		} else if i > axis {
			inner *= d
		}
	}
	parts := make([]*tensors.Tensor, len(sizes))
	err := t.ConstBytes(func(src []byte) {
		off := 0
		for p, s := range sizes {
			dims := append([]int(nil), shape.Dimensions...)
			dims[axis] = s
			parts[p] = tensors.FromShape(shapes.Make(shape.DType, dims...))
			if s == 0 {
				continue
			}
			row := s * inner
			if err := parts[p].MutableBytes(func(dst []byte) {
				for o := range outer {
					copy(dst[o*row:(o+1)*row], src[o*total*inner+off*inner:])
				}
			}); err != nil {
				panic(err) // a new local tensor: cannot happen
			}
			off += s
		}
	})
	if err != nil {
		return nil, fmt.Errorf("diffeq.SplitRows: %w", err)
	}
	return parts, nil
}

// ConcatRows concatenates tensors of equal dtype and trailing dimensions
// along axis 0 into a new tensor.
func ConcatRows(parts []*tensors.Tensor) (*tensors.Tensor, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("diffeq.ConcatRows: no tensors")
	}
	first := parts[0].Shape()
	if first.Rank() < 1 {
		return nil, fmt.Errorf("diffeq.ConcatRows: tensors must have rank ≥ 1, got %s", first)
	}
	rows := 0
	for i, p := range parts {
		s := p.Shape()
		if s.DType != first.DType || s.Rank() != first.Rank() || !slices.Equal(s.Dimensions[1:], first.Dimensions[1:]) {
			return nil, fmt.Errorf("diffeq.ConcatRows: tensor %d has shape %s, incompatible with %s", i, s, first)
		}
		rows += s.Dimensions[0]
	}
	dims := append([]int{rows}, first.Dimensions[1:]...)
	out := tensors.FromShape(shapes.Make(first.DType, dims...))
	var err error
	if e := out.MutableBytes(func(dst []byte) {
		off := 0
		for _, p := range parts {
			if p.Size() == 0 {
				continue
			}
			if e := p.ConstBytes(func(src []byte) { off += copy(dst[off:], src) }); e != nil && err == nil {
				err = e
			}
		}
	}); e != nil && err == nil {
		err = e
	}
	if err != nil {
		return nil, fmt.Errorf("diffeq.ConcatRows: %w", err)
	}
	return out, nil
}

// shardSet runs one solver per shard: the first solve with a given
// signature (shapes and chunk lengths, which decide what gets compiled) runs
// the shards one after another, since compiling and initialising variables
// touch the shared context; later solves run them concurrently.
type shardSet struct {
	warm map[string]bool
}

// run calls solve(i) for the p shards and returns the solutions.
func (w *shardSet) run(sig string, p int, solve func(i int) (*Solution, error)) ([]*Solution, error) {
	if w.warm == nil {
		w.warm = map[string]bool{}
	}
	sols := make([]*Solution, p)
	errs := make([]error, p)
	if w.warm[sig] {
		var wg sync.WaitGroup
		for i := range p {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sols[i], errs[i] = solve(i)
			}()
		}
		wg.Wait()
	} else {
		for i := range p {
			sols[i], errs[i] = solve(i)
		}
	}
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("shard %d: %w", i, err)
		}
	}
	w.warm[sig] = true
	return sols, nil
}

// mergeShards concatenates the shards' states at every save time; the
// statistics are those of the shard with the most attempted steps (all
// equal for fixed-step methods).
func mergeShards(z0 *tensors.Tensor, ts []float64, sols []*Solution) (*Solution, error) {
	sol := &Solution{Ts: append([]float64(nil), ts...), Ys: []*tensors.Tensor{z0}}
	parts := make([]*tensors.Tensor, len(sols))
	for j := 1; j < len(ts); j++ {
		for i, o := range sols {
			parts[i] = o.Ys[j]
		}
		y, err := ConcatRows(parts)
		if err != nil {
			return nil, err
		}
		sol.Ys = append(sol.Ys, y)
	}
	best := sols[0]
	for _, o := range sols[1:] {
		if o.Steps+o.Rejected > best.Steps+best.Rejected {
			best = o
		}
	}
	sol.StepsPerInterval = best.StepsPerInterval
	sol.Steps, sol.Rejected, sol.NFE = best.Steps, best.Rejected, best.NFE
	return sol, nil
}

// chunkLengths returns the chunk lengths a fixed-step solve over ts uses
// (they decide which executables get compiled).
func chunkLengths(ts []float64, opts Options) []int {
	opts = opts.withDefaults(ts[len(ts)-1] - ts[0])
	seen := map[int]bool{}
	var ks []int
	for i := 1; i < len(ts); i++ {
		n, err := StepsIn(ts[i]-ts[i-1], opts.Dt)
		if err != nil {
			return nil // the solve reports it
		}
		// Full chunks, then the remainder (no loop over the steps: n may be large).
		for _, k := range []int{min(opts.Chunk, n), n % opts.Chunk} {
			if k > 0 && !seen[k] {
				seen[k] = true
				ks = append(ks, k)
			}
		}
	}
	return ks
}

// ShardedSDESolver solves an SDE with the batch split into row blocks
// (shards) that run concurrently, one goroutine and one SDESolver (with its
// own compiled executables) per shard, sharing the weights in one context.
// On GoMLX's pure-Go backend one executable call keeps about one core busy,
// so P shards use P cores; with XLA one shard is usually best.
//
// Shard i is driven by the rows of the Brownian motion that belong to it
// (Brownian.Rows), so every path sees the same increments as in an
// unsharded solve, and for vector fields that act row by row the result
// equals the unsharded SDESolver's exactly.
//
// The first Solve for a given batch size and save-time structure runs the
// shards one after another (compilation and variable initialisation touch
// the shared context); later Solves run them concurrently. The vector fields
// must not update context variables. It is not safe for concurrent use.
type ShardedSDESolver struct {
	shards []*SDESolver
	set    shardSet
	rev    RevHeunTensors
}

// NewShardedSDESolver returns a solver of sde on up to p shards (p ≥ 1; a
// batch smaller than p gets one shard per sample). The other arguments are
// those of NewSDESolver.
func NewShardedSDESolver(b backends.Backend, ctx *context.Context, sde SDE, opts Options, p int) (*ShardedSDESolver, error) {
	if p < 1 {
		return nil, fmt.Errorf("diffeq.NewShardedSDESolver: number of shards p must be ≥ 1, got %d", p)
	}
	if ctx == nil {
		ctx = context.New()
	}
	s := &ShardedSDESolver{}
	for range p {
		sh, err := NewSDESolver(b, ctx, sde, opts)
		if err != nil {
			return nil, fmt.Errorf("diffeq.NewShardedSDESolver: %w", err)
		}
		s.shards = append(s.shards, sh)
	}
	return s, nil
}

// Shards returns the maximum number of shards.
func (s *ShardedSDESolver) Shards() int { return len(s.shards) }

// Options returns the solver's options (with the default method filled in).
func (s *ShardedSDESolver) Options() Options { return s.shards[0].Options() }

// ReversibleState returns, after a ReversibleHeun Solve, the reversible Heun
// state at the last save time, concatenated over the shards (see
// SDESolver.ReversibleState).
func (s *ShardedSDESolver) ReversibleState() RevHeunTensors { return s.rev }

// Solve integrates from ts[0] to the last save time starting at z0 (batch,
// d), driven by bm (shape (batch, m)), like SDESolver.Solve.
func (s *ShardedSDESolver) Solve(z0 *tensors.Tensor, ts []float64, bm *Brownian) (*Solution, error) {
	if err := checkState("z0", z0); err != nil {
		return nil, fmt.Errorf("diffeq.ShardedSDESolver.Solve: %w", err)
	}
	if err := CheckTimes("ts", ts); err != nil {
		return nil, fmt.Errorf("diffeq.ShardedSDESolver.Solve: %w", err)
	}
	if bm == nil {
		return nil, fmt.Errorf("diffeq.ShardedSDESolver.Solve: Brownian motion bm is nil")
	}
	batch := z0.Shape().Dimensions[0]
	if bb, _ := bm.Shape(); bb != batch {
		return nil, fmt.Errorf("diffeq.ShardedSDESolver.Solve: Brownian motion bm has batch %d, z0 %s has %d", bb, z0.Shape(), batch)
	}
	sizes := ShardSizes(batch, len(s.shards))
	z0s, err := SplitRows(z0, 0, sizes)
	if err != nil {
		return nil, fmt.Errorf("diffeq.ShardedSDESolver.Solve: %w", err)
	}
	bms := make([]*Brownian, len(sizes))
	lo := 0
	for i, n := range sizes {
		if bms[i], err = bm.Rows(lo, lo+n); err != nil {
			return nil, fmt.Errorf("diffeq.ShardedSDESolver.Solve: %w", err)
		}
		lo += n
	}
	sig := fmt.Sprint(z0.Shape(), sizes, chunkLengths(ts, s.shards[0].opts))
	sols, err := s.set.run(sig, len(sizes), func(i int) (*Solution, error) { return s.shards[i].Solve(z0s[i], ts, bms[i]) })
	if err != nil {
		return nil, fmt.Errorf("diffeq.ShardedSDESolver.Solve: %w", err)
	}
	s.rev = RevHeunTensors{}
	if s.shards[0].opts.Method == ReversibleHeun {
		revs := make([]RevHeunTensors, len(sizes))
		for i := range revs {
			revs[i] = s.shards[i].ReversibleState()
		}
		if s.rev, err = concatRev(revs); err != nil {
			return nil, fmt.Errorf("diffeq.ShardedSDESolver.Solve: %w", err)
		}
	}
	sol, err := mergeShards(z0, ts, sols)
	if err != nil {
		return nil, fmt.Errorf("diffeq.ShardedSDESolver.Solve: %w", err)
	}
	return sol, nil
}

// concatRev concatenates the shards' reversible Heun states.
func concatRev(revs []RevHeunTensors) (RevHeunTensors, error) {
	var cat [4]*tensors.Tensor
	parts := make([]*tensors.Tensor, len(revs))
	for f := range cat {
		for i, r := range revs {
			parts[i] = [4]*tensors.Tensor{r.Z, r.ZHat, r.F, r.G}[f]
		}
		var err error
		if cat[f], err = ConcatRows(parts); err != nil {
			return RevHeunTensors{}, err
		}
	}
	return RevHeunTensors{Z: cat[0], ZHat: cat[1], F: cat[2], G: cat[3]}, nil
}

// ShardedODESolver solves an ODE with the batch split into row blocks
// (shards) that run concurrently, one goroutine and one ODESolver per shard,
// sharing the weights in one context (see ShardedSDESolver for when this
// pays off).
//
// With fixed-step methods the result equals an unsharded solve's for vector
// fields that act row by row. With Dopri5 each shard chooses its own steps
// from the error of its own rows: every shard meets the tolerances, but the
// numbers differ from an unsharded solve's within them, and Solution.Steps,
// Rejected and NFE are those of the shard that attempted the most steps
// (the wall-clock critical path).
//
// Compilation is serialised as for ShardedSDESolver. The vector field must
// not update context variables. It is not safe for concurrent use.
type ShardedODESolver struct {
	shards []*ODESolver
	set    shardSet
}

// NewShardedODESolver returns a solver of f on up to p shards (p ≥ 1). The
// other arguments are those of NewODESolver.
func NewShardedODESolver(b backends.Backend, ctx *context.Context, f Func, opts Options, p int) (*ShardedODESolver, error) {
	if p < 1 {
		return nil, fmt.Errorf("diffeq.NewShardedODESolver: number of shards p must be ≥ 1, got %d", p)
	}
	if opts.Event != nil {
		return nil, fmt.Errorf("diffeq.NewShardedODESolver: Options.Event is not supported on shards (each shard would stop at its own event): use an ODESolver")
	}
	if ctx == nil {
		ctx = context.New()
	}
	s := &ShardedODESolver{}
	for range p {
		sh, err := NewODESolver(b, ctx, f, opts)
		if err != nil {
			return nil, fmt.Errorf("diffeq.NewShardedODESolver: %w", err)
		}
		s.shards = append(s.shards, sh)
	}
	return s, nil
}

// Shards returns the maximum number of shards.
func (s *ShardedODESolver) Shards() int { return len(s.shards) }

// Solve integrates from ts[0] to the last save time starting at z0 (batch,
// d), like ODESolver.Solve, with the batch split over the shards.
func (s *ShardedODESolver) Solve(z0 *tensors.Tensor, ts []float64) (*Solution, error) {
	if err := checkState("z0", z0); err != nil {
		return nil, fmt.Errorf("diffeq.ShardedODESolver.Solve: %w", err)
	}
	if err := CheckTimes("ts", ts); err != nil {
		return nil, fmt.Errorf("diffeq.ShardedODESolver.Solve: %w", err)
	}
	sizes := ShardSizes(z0.Shape().Dimensions[0], len(s.shards))
	z0s, err := SplitRows(z0, 0, sizes)
	if err != nil {
		return nil, fmt.Errorf("diffeq.ShardedODESolver.Solve: %w", err)
	}
	opts := s.shards[0].opts
	sig := fmt.Sprint(z0.Shape(), sizes)
	if !opts.Method.IsAdaptive() {
		sig += fmt.Sprint(chunkLengths(ts, opts))
	}
	sols, err := s.set.run(sig, len(sizes), func(i int) (*Solution, error) { return s.shards[i].Solve(z0s[i], ts) })
	if err != nil {
		return nil, fmt.Errorf("diffeq.ShardedODESolver.Solve: %w", err)
	}
	sol, err := mergeShards(z0, ts, sols)
	if err != nil {
		return nil, fmt.Errorf("diffeq.ShardedODESolver.Solve: %w", err)
	}
	return sol, nil
}

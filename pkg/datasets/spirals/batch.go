package spirals

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
)

// Batch is a batch of irregularly observed spiral pieces on one shared time
// grid. Arrays are flat and row-major: Obs and Clean are (Size, Len, 2),
// Mask and Gaps are (Size, Len).
type Batch struct {
	Size int // number of samples
	Len  int // number of grid points
	// Ts is the shared grid of relative times: Ts[j] = j·Δ where Δ is the
	// data's time step. Grid point 0 of a sample is its first kept
	// observation.
	Ts []float64
	// Obs holds the kept observations (zero where Mask is 0).
	Obs []float64
	// Mask is 1 at kept observations and 0 elsewhere.
	Mask []float64
	// Gaps is, at a kept observation, the time to the sample's next kept
	// observation (0 for the last one); 0 elsewhere. An encoder that reads
	// the observations backwards in time gets the gap it just crossed.
	Gaps []float64
	// Clean is the noise-free trajectory at every grid point (computed in
	// closed form, also past the end of the generated data).
	Clean []float64
	// Index[b] is the spiral of sample b; Start[b] the data time index of
	// its grid point 0.
	Index, Start []int
	// Kept[b] is the number of kept observations of sample b.
	Kept []int
}

// SampleOptions configure Dataset.Sample.
type SampleOptions struct {
	// Span is the number of consecutive data points a sample is drawn from
	// (default 100); it is also the length of the batch's grid.
	Span int
	// Keep lists the possible numbers of kept observations; each sample
	// picks one at random (default 30, 50, 100). Values above Span are
	// clipped to Span.
	Keep []int
}

// DefaultKeep are the default numbers of kept observations.
var DefaultKeep = []int{30, 50, 100}

// Sample draws a training batch: batch random spirals, each cut to a random
// sub-span of opts.Span consecutive points of which a random 30, 50 or 100
// (opts.Keep) are kept, sorted.
func (d *Dataset) Sample(rng *rand.Rand, batch int, opts SampleOptions) (*Batch, error) {
	opts.Span = cmp.Or(opts.Span, 100)
	if len(opts.Keep) == 0 {
		opts.Keep = DefaultKeep
	}
	n := len(d.Ts)
	switch {
	case rng == nil:
		return nil, fmt.Errorf("spirals.Sample: rng is nil")
	case batch < 1:
		return nil, fmt.Errorf("spirals.Sample: batch must be ≥ 1, got %d", batch)
	case opts.Span < 2 || opts.Span > n:
		return nil, fmt.Errorf("spirals.Sample: SampleOptions.Span must be in [2, %d] (points per spiral), got %d", n, opts.Span)
	case d.Len() == 0:
		return nil, fmt.Errorf("spirals.Sample: empty dataset")
	}
	for _, k := range opts.Keep {
		if k < 1 {
			return nil, fmt.Errorf("spirals.Sample: SampleOptions.Keep values must be ≥ 1, got %v", opts.Keep)
		}
	}
	idx := make([]int, batch)
	kept := make([][]int, batch)
	for b := range idx {
		idx[b] = rng.IntN(d.Len())
		start := rng.IntN(n - opts.Span + 1)
		k := min(opts.Keep[rng.IntN(len(opts.Keep))], opts.Span)
		perm := rng.Perm(opts.Span)[:k]
		slices.Sort(perm)
		for i := range perm {
			perm[i] += start
		}
		kept[b] = perm
	}
	return d.Batch(idx, kept, opts.Span)
}

// Prefix returns a batch of the given spirals observed at their first nObs
// data points, on a grid of length points starting at time 0 (for
// reconstruction and extrapolation).
func (d *Dataset) Prefix(idx []int, nObs, length int) (*Batch, error) {
	if nObs < 1 || nObs > len(d.Ts) || nObs > length {
		return nil, fmt.Errorf("spirals.Prefix: nObs must be in [1, min(%d, length=%d)], got %d", len(d.Ts), length, nObs)
	}
	kept := make([][]int, len(idx))
	for b := range kept {
		kept[b] = make([]int, nObs)
		for j := range nObs {
			kept[b][j] = j
		}
	}
	return d.Batch(idx, kept, length)
}

// Batch builds a batch from explicit choices: sample b is spiral idx[b]
// observed at the sorted data time indices kept[b], on a grid of length
// points starting at kept[b][0].
func (d *Dataset) Batch(idx []int, kept [][]int, length int) (*Batch, error) {
	if len(idx) == 0 || len(idx) != len(kept) {
		return nil, fmt.Errorf("spirals.Batch: need as many kept lists as spirals (≥ 1), got %d and %d", len(idx), len(kept))
	}
	if len(d.Ts) < 2 {
		return nil, fmt.Errorf("spirals.Batch: dataset has %d time points, need ≥ 2", len(d.Ts))
	}
	dt := d.Ts[1] - d.Ts[0]
	bt := &Batch{
		Size: len(idx), Len: length, Ts: make([]float64, length),
		Obs: make([]float64, 2*len(idx)*length), Mask: make([]float64, len(idx)*length),
		Gaps: make([]float64, len(idx)*length), Clean: make([]float64, 2*len(idx)*length),
	}
	for j := range bt.Ts {
		bt.Ts[j] = float64(j) * dt
	}
	for b, i := range idx {
		if i < 0 || i >= d.Len() {
			return nil, fmt.Errorf("spirals.Batch: idx[%d]=%d out of range [0, %d)", b, i, d.Len())
		}
		ks := kept[b]
		if len(ks) == 0 {
			return nil, fmt.Errorf("spirals.Batch: kept[%d] is empty", b)
		}
		start := ks[0]
		for j, k := range ks {
			if k < 0 || k >= len(d.Ts) || k-start >= length || (j > 0 && k <= ks[j-1]) {
				return nil, fmt.Errorf("spirals.Batch: kept[%d] must be strictly increasing data indices within %d points of the first, got %v", b, length, ks)
			}
			p := b*length + k - start
			bt.Mask[p] = 1
			bt.Obs[2*p], bt.Obs[2*p+1] = d.Obs[i][2*k], d.Obs[i][2*k+1]
			if j+1 < len(ks) {
				bt.Gaps[p] = float64(ks[j+1]-k) * dt
			}
		}
		grid := make([]float64, length)
		for j := range grid {
			grid[j] = d.Ts[start] + bt.Ts[j]
		}
		copy(bt.Clean[2*b*length:], Trajectory(d.W[i], d.X0[i], grid))
		bt.Index = append(bt.Index, i)
		bt.Start = append(bt.Start, start)
		bt.Kept = append(bt.Kept, len(ks))
	}
	return bt, nil
}

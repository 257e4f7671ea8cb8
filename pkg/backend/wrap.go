package backend

import (
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Wrap returns b completed with the operations that GoMLX's pure-Go backend
// (simplego) lacks and that gosde's models need: Pad (edge padding, negative
// edge padding to crop, and interior padding) and Reverse. Without them the
// gradients of graph.Slice, graph.Split, every convolution and MeanPool fail.
//
// The wrapper delegates everything else to b: Name() still reports b's name
// (simplego's is "SimpleGo (go)"), buffers and executables are b's own. Pad and Reverse are built from
// operations b implements (Slice, Concatenate, BroadcastInDim, Reshape,
// Transpose, Gather), so they run at the speed of those ops. Capabilities()
// reports both operations as supported.
//
// Wrap is meant for the embedded backend; wrapping a backend that already has
// Pad and Reverse replaces its versions by these, which is harmless but
// slower. Wrap(nil) returns nil, and wrapping twice returns the same wrapper.
func Wrap(b backends.Backend) backends.Backend {
	if b == nil {
		return nil
	}
	if w, ok := b.(*wrapped); ok {
		return w
	}
	return &wrapped{Backend: b}
}

// wrapped is a backend that delegates to Backend and adds Pad and Reverse.
type wrapped struct {
	backends.Backend
}

// Description implements backends.Backend.
func (w *wrapped) Description() string {
	return w.Backend.Description() + " (+Pad, Reverse by gosde)"
}

// Capabilities implements backends.Backend: the inner capabilities plus Pad and Reverse.
func (w *wrapped) Capabilities() backends.Capabilities {
	c := w.Backend.Capabilities().Clone()
	c.Operations[backends.OpTypePad] = true
	c.Operations[backends.OpTypeReverse] = true
	return c
}

// Builder implements backends.Backend.
func (w *wrapped) Builder(name string) backends.Builder {
	return &wrappedBuilder{Builder: w.Backend.Builder(name)}
}

// wrappedBuilder delegates to Builder and adds Pad and Reverse.
type wrappedBuilder struct {
	backends.Builder
}

// Reverse implements backends.StandardOps with one Gather: the reversed axes
// are moved to the front and merged into one axis (reversing a row-major
// merged axis reverses each of its parts), gathered in reverse order, then
// split and moved back.
func (b *wrappedBuilder) Reverse(x backends.Op, axes ...int) (backends.Op, error) {
	shape, err := b.OpShape(x)
	if err != nil {
		return nil, fmt.Errorf("Reverse: %w", err)
	}
	rank := shape.Rank()
	seen := make([]bool, rank)
	var revAxes []int
	for _, a := range axes {
		if a < 0 || a >= rank {
			return nil, fmt.Errorf("Reverse: axis %d out of range for x of shape %s", a, shape)
		}
		if seen[a] {
			return nil, fmt.Errorf("Reverse: axis %d given twice (axes=%v)", a, axes)
		}
		seen[a] = true
		if shape.Dimensions[a] > 1 {
			revAxes = append(revAxes, a)
		}
	}
	if len(revAxes) == 0 || shape.Size() == 0 {
		return b.Identity(x)
	}
	slices.Sort(revAxes)

	// Permutation: reversed axes first (in order), then the others.
	perm := slices.Clone(revAxes)
	for a := range rank {
		if !seen[a] || shape.Dimensions[a] <= 1 {
			perm = append(perm, a)
		}
	}
	// Dimensions after the transpose, and after merging the reversed axes.
	n := 1
	for _, a := range revAxes {
		n *= shape.Dimensions[a]
	}
	rest := make([]int, 0, rank)
	for _, a := range perm[len(revAxes):] {
		rest = append(rest, shape.Dimensions[a])
	}
	transposed := make([]int, 0, rank)
	for _, a := range perm {
		transposed = append(transposed, shape.Dimensions[a])
	}

	y, err := b.Transpose(x, perm...)
	if err != nil {
		return nil, fmt.Errorf("Reverse: transpose: %w", err)
	}
	y, err = b.Reshape(y, append([]int{n}, rest...)...)
	if err != nil {
		return nil, fmt.Errorf("Reverse: reshape: %w", err)
	}
	idx := make([]int32, n)
	for i := range idx {
		idx[i] = int32(n - 1 - i)
	}
	indices, err := b.Constant(idx, n, 1)
	if err != nil {
		return nil, fmt.Errorf("Reverse: indices: %w", err)
	}
	sliceSizes := append([]int{1}, rest...)
	offsetAxes := make([]int, len(rest))
	for i := range offsetAxes {
		offsetAxes[i] = i + 1
	}
	y, err = b.Gather(y, indices, 1, offsetAxes, []int{0}, []int{0}, sliceSizes, false)
	if err != nil {
		return nil, fmt.Errorf("Reverse: gather: %w", err)
	}
	y, err = b.Reshape(y, transposed...)
	if err != nil {
		return nil, fmt.Errorf("Reverse: reshape back: %w", err)
	}
	inv := make([]int, rank)
	for i, a := range perm {
		inv[a] = i
	}
	y, err = b.Transpose(y, inv...)
	if err != nil {
		return nil, fmt.Errorf("Reverse: transpose back: %w", err)
	}
	return y, nil
}

// Pad implements backends.StandardOps with XLA's semantics: on each axis,
// first Interior copies of fillValue go between consecutive elements, then
// Start and End elements are added (when positive) or removed (when negative)
// at the ends.
func (b *wrappedBuilder) Pad(x, fillValue backends.Op, axesConfig ...backends.PadAxis) (backends.Op, error) {
	shape, err := b.OpShape(x)
	if err != nil {
		return nil, fmt.Errorf("Pad: %w", err)
	}
	fillShape, err := b.OpShape(fillValue)
	if err != nil {
		return nil, fmt.Errorf("Pad: fillValue: %w", err)
	}
	if fillShape.Rank() != 0 || fillShape.DType != shape.DType {
		return nil, fmt.Errorf("Pad: fillValue must be a scalar of x's dtype %s, got %s", shape.DType, fillShape)
	}
	if len(axesConfig) > shape.Rank() {
		return nil, fmt.Errorf("Pad: %d axesConfig given for x of rank %d (shape %s)", len(axesConfig), shape.Rank(), shape)
	}
	y := x
	dims := slices.Clone(shape.Dimensions)
	changed := false
	for axis, pad := range axesConfig {
		if pad == (backends.PadAxis{}) {
			continue
		}
		if pad.Interior < 0 {
			return nil, fmt.Errorf("Pad: axis %d: negative interior padding %d", axis, pad.Interior)
		}
		n := dims[axis]
		inner := n
		if n > 0 {
			inner = n + (n-1)*pad.Interior
		}
		if final := inner + pad.Start + pad.End; final < 0 {
			return nil, fmt.Errorf("Pad: axis %d of size %d with padding %+v gives negative size %d", axis, n, pad, final)
		}
		changed = true
		if pad.Interior > 0 && n > 1 {
			if y, err = b.padInterior(y, fillValue, shape.DType, dims, axis, pad.Interior); err != nil {
				return nil, err
			}
			dims[axis] = inner
		}
		if y, err = b.padEdges(y, fillValue, shape.DType, dims, axis, pad.Start, pad.End); err != nil {
			return nil, err
		}
		dims[axis] += pad.Start + pad.End
	}
	if !changed {
		return b.Identity(x)
	}
	return y, nil
}

// padInterior inserts k fill values between consecutive elements on axis:
// x of dims [..., n, ...] is reshaped to [..., n, 1, ...], concatenated with a
// fill block [..., n, k, ...], flattened to [..., n(k+1), ...], and the k
// trailing fill values are sliced off.
func (b *wrappedBuilder) padInterior(x, fill backends.Op, dtype dtypes.DType, dims []int, axis, k int) (backends.Op, error) {
	n := dims[axis]
	expanded := slices.Insert(slices.Clone(dims), axis+1, 1)
	y, err := b.Reshape(x, expanded...)
	if err != nil {
		return nil, fmt.Errorf("Pad: interior reshape: %w", err)
	}
	blockDims := slices.Clone(expanded)
	blockDims[axis+1] = k
	block, err := b.BroadcastInDim(fill, shapes.Make(dtype, blockDims...), nil)
	if err != nil {
		return nil, fmt.Errorf("Pad: interior fill: %w", err)
	}
	if y, err = b.Concatenate(axis+1, y, block); err != nil {
		return nil, fmt.Errorf("Pad: interior concatenate: %w", err)
	}
	merged := slices.Clone(dims)
	merged[axis] = n * (k + 1)
	if y, err = b.Reshape(y, merged...); err != nil {
		return nil, fmt.Errorf("Pad: interior merge: %w", err)
	}
	limits := slices.Clone(merged)
	limits[axis] -= k
	if y, err = b.Slice(y, make([]int, len(dims)), limits, ones(len(dims))); err != nil {
		return nil, fmt.Errorf("Pad: interior trim: %w", err)
	}
	return y, nil
}

// padEdges adds start and end fill elements on axis when positive, and
// removes them when negative: the positive padding is concatenated first and
// the negative one then sliced off the padded axis, which gives XLA's result
// also when a crop reaches past x into the padding of the other side.
func (b *wrappedBuilder) padEdges(x, fill backends.Op, dtype dtypes.DType, dims []int, axis, start, end int) (backends.Op, error) {
	y := x
	var err error
	n := dims[axis]
	addLo, addHi := max(start, 0), max(end, 0)
	if addLo > 0 || addHi > 0 {
		parts := make([]backends.Op, 0, 3)
		for _, size := range []int{addLo, -1, addHi} {
			switch {
			case size < 0 && n > 0:
				parts = append(parts, y)
			case size > 0:
				bd := slices.Clone(dims)
				bd[axis] = size
				blk, err := b.BroadcastInDim(fill, shapes.Make(dtype, bd...), nil)
				if err != nil {
					return nil, fmt.Errorf("Pad: fill block on axis %d: %w", axis, err)
				}
				parts = append(parts, blk)
			}
		}
		if len(parts) == 1 {
			y = parts[0]
		} else if y, err = b.Concatenate(axis, parts...); err != nil {
			return nil, fmt.Errorf("Pad: concatenate axis %d: %w", axis, err)
		}
		n += addLo + addHi
	}
	cropLo, cropHi := max(-start, 0), max(-end, 0)
	if n-cropLo-cropHi == 0 {
		// Empty result (simplego's Slice rejects empty ranges at the end).
		empty := slices.Clone(dims)
		empty[axis] = 0
		return b.BroadcastInDim(fill, shapes.Make(dtype, empty...), nil)
	}
	if cropLo > 0 || cropHi > 0 {
		starts := make([]int, len(dims))
		starts[axis] = cropLo
		limits := slices.Clone(dims)
		limits[axis] = n - cropHi
		if y, err = b.Slice(y, starts, limits, ones(len(dims))); err != nil {
			return nil, fmt.Errorf("Pad: crop axis %d: %w", axis, err)
		}
	}
	return y, nil
}

// ones returns a slice of n ones (unit strides).
func ones(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = 1
	}
	return s
}

// ConvGeneral implements backends.StandardOps: it fills in unit strides and
// dilations where the caller left them empty or zero (GoMLX's convolution
// gradients do, and simplego rejects them), then delegates.
func (b *wrappedBuilder) ConvGeneral(input, kernel backends.Op, axes backends.ConvolveAxesConfig,
	strides []int, paddings [][2]int, inputDilations, kernelDilations []int,
	channelGroupCount, batchGroupCount int) (backends.Op, error) {
	n := len(axes.InputSpatial)
	return b.Builder.ConvGeneral(input, kernel, axes, unitDefaults(strides, n), paddings,
		unitDefaults(inputDilations, n), unitDefaults(kernelDilations, n), channelGroupCount, batchGroupCount)
}

// unitDefaults returns v with values < 1 replaced by 1, or n ones if v is empty.
func unitDefaults(v []int, n int) []int {
	if len(v) == 0 {
		return ones(n)
	}
	out := slices.Clone(v)
	for i, x := range out {
		if x < 1 {
			out[i] = 1
		}
	}
	return out
}

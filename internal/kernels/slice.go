package kernels

import (
	"reflect"
	"slices"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// A Slice kernel for simplego: unit-stride slices of float32 and float64
// tensors are copied as contiguous runs (simplego computes every element's
// index). Recurrent encoders slice their inputs once per time step and
// autodiff slices gradients back apart, so these copies add up (9% of the
// latent ODE benchmark's time before this kernel).

// sgSliceData mirrors simplego's sliceNode (v0.26.0).
type sgSliceData struct {
	starts, limits, strides []int
}

// sliceDataType is the type word of simplego's *sliceNode in an interface,
// recorded by simplegoSliceLayoutOK.
var sliceDataType unsafe.Pointer

//go:linkname sgExecSlice github.com/gomlx/gomlx/backends/simplego.execSlice
func sgExecSlice(backend *sgBackend, node *sgNode, inputs []*sgBuffer, inputsOwned []bool) (*sgBuffer, error)

// simplegoSliceLayoutOK checks on a real Slice node that sgSliceData mirrors
// simplego's sliceNode.
func simplegoSliceLayoutOK() bool {
	return withSimplegoBuilder(checkSliceLayout)
}

func checkSliceLayout(bld backends.Builder) bool {
	x, err := bld.Parameter("x", shapes.Make(dtypes.Float32, 4, 5), nil)
	if err != nil {
		return false
	}
	s, err := bld.Slice(x, []int{1, 2}, []int{3, 5}, []int{1, 1})
	if err != nil {
		return false
	}
	v := reflect.ValueOf(s)
	if v.Kind() != reflect.Pointer || v.Type().Elem().Size() != unsafe.Sizeof(sgNode{}) {
		return false
	}
	n := (*sgNode)(v.UnsafePointer())
	dv := reflect.ValueOf(n.data)
	if n.opType != backends.OpTypeSlice || !n.shape.Equal(shapes.Make(dtypes.Float32, 2, 3)) ||
		dv.Kind() != reflect.Pointer || dv.Type().Elem().Name() != "sliceNode" || dv.Type().Elem().Size() != unsafe.Sizeof(sgSliceData{}) {
		return false
	}
	d := (*sgSliceData)(dv.UnsafePointer())
	sliceDataType = efaceType(&n.data)
	return slices.Equal(d.starts, []int{1, 2}) && slices.Equal(d.limits, []int{3, 5}) && slices.Equal(d.strides, []int{1, 1})
}

// execSliceRuns copies unit-stride float32/float64 slices run by run.
func execSliceRuns(backend *sgBackend, node *sgNode, inputs []*sgBuffer, inputsOwned []bool) (*sgBuffer, error) {
	in := inputs[0]
	if node.data == nil || sliceDataType == nil || efaceType(&node.data) != sliceDataType {
		return sgExecSlice(backend, node, inputs, inputsOwned)
	}
	d := (*sgSliceData)(efaceData(&node.data))
	for _, s := range d.strides {
		if s != 1 {
			return sgExecSlice(backend, node, inputs, inputsOwned)
		}
	}
	switch in.shape.DType {
	case dtypes.Float32:
		out := sgGetBufferForShape(backend, node.shape)
		copyRuns(out.flat.([]float32)[:node.shape.Size()], in.flat.([]float32), in.shape.Dimensions, d.starts, d.limits)
		return out, nil
	case dtypes.Float64:
		out := sgGetBufferForShape(backend, node.shape)
		copyRuns(out.flat.([]float64)[:node.shape.Size()], in.flat.([]float64), in.shape.Dimensions, d.starts, d.limits)
		return out, nil
	}
	return sgExecSlice(backend, node, inputs, inputsOwned)
}

// copyRuns copies the box [starts, limits) of the row-major array x with
// dimensions dims into out. The trailing axes the box covers entirely and
// the innermost partial axis form one contiguous run; an odometer walks the
// axes before it.
func copyRuns[T any](out, x []T, dims, starts, limits []int) {
	rank := len(dims)
	if rank == 0 {
		copy(out, x[:1])
		return
	}
	// k: the innermost axis not covered entirely; the run spans it and
	// everything after it.
	k := rank - 1
	inner := 1
	for k > 0 && starts[k] == 0 && limits[k] == dims[k] {
		inner *= dims[k]
		k--
	}
	run := (limits[k] - starts[k]) * inner
	strides := make([]int, rank)
	strides[rank-1] = 1
	for a := rank - 2; a >= 0; a-- {
		strides[a] = strides[a+1] * dims[a+1]
	}
	idx := slices.Clone(starts[:k]) // the odometer over axes 0 … k−1
	o := 0
	for {
		off := starts[k] * strides[k]
		for a, i := range idx {
			off += i * strides[a]
		}
		copy(out[o:o+run], x[off:off+run])
		o += run
		a := k - 1
		for ; a >= 0; a-- {
			idx[a]++
			if idx[a] < limits[a] {
				break
			}
			idx[a] = starts[a]
		}
		if a < 0 {
			return
		}
	}
}

//go:linkname sgExecTranspose github.com/gomlx/gomlx/backends/simplego.execTranspose
func sgExecTranspose(backend *sgBackend, node *sgNode, inputs []*sgBuffer, inputsOwned []bool) (*sgBuffer, error)

// execTransposeRuns transposes float32/float64 tensors whose last axis stays
// last (the space-to-depth rearrangements of strided convolutions, and
// their gradients) by copying contiguous runs; simplego computes every
// element's index. Other permutations go to simplego.
func execTransposeRuns(backend *sgBackend, node *sgNode, inputs []*sgBuffer, inputsOwned []bool) (*sgBuffer, error) {
	in := inputs[0]
	perm, ok := node.data.([]int)
	r := len(perm)
	if !ok || r < 2 || r != in.shape.Rank() || perm[r-1] != r-1 {
		return sgExecTranspose(backend, node, inputs, inputsOwned)
	}
	switch in.shape.DType {
	case dtypes.Float32:
		out := sgGetBufferForShape(backend, node.shape)
		transposeRuns(out.flat.([]float32)[:node.shape.Size()], in.flat.([]float32), in.shape.Dimensions, perm)
		return out, nil
	case dtypes.Float64:
		out := sgGetBufferForShape(backend, node.shape)
		transposeRuns(out.flat.([]float64)[:node.shape.Size()], in.flat.([]float64), in.shape.Dimensions, perm)
		return out, nil
	}
	return sgExecTranspose(backend, node, inputs, inputsOwned)
}

// transposeRuns sets out (row-major, axis a of size dims[perm[a]]) to the
// transpose of x (row-major with dimensions dims): out[i] = x[j] with
// j_{perm[a]} = i_a. The trailing axes that perm leaves in place form one
// contiguous run; an odometer walks the output's axes before them.
func transposeRuns[T any](out, x []T, dims, perm []int) {
	r := len(dims)
	k := r // the first of the trailing axes left in place
	run := 1
	for k > 0 && perm[k-1] == k-1 {
		k--
		run *= dims[k]
	}
	if k == 0 || run == 0 {
		copy(out, x)
		return
	}
	strides := make([]int, r)
	strides[r-1] = 1
	for a := r - 2; a >= 0; a-- {
		strides[a] = strides[a+1] * dims[a+1]
	}
	idx := make([]int, k) // output index over axes 0 … k−1
	for o := 0; o < len(out); o += run {
		off := 0
		for a, i := range idx {
			off += i * strides[perm[a]]
		}
		copy(out[o:o+run], x[off:off+run])
		for a := k - 1; a >= 0; a-- {
			idx[a]++
			if idx[a] < dims[perm[a]] {
				break
			}
			idx[a] = 0
		}
	}
}

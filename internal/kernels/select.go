package kernels

import (
	"slices"
	"unsafe"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Float32 Where and ReduceSum kernels for simplego (installed by Install,
// see EnvVar: "-where", "-reduce" leave them out).
//
// simplego's Where branches on every element: with conditions that change
// at random (ELU's x > 0 and its gradient), most branches are mispredicted.
// Its reductions walk an index iterator per element. Measured on the latent
// ODE benchmark (docs/benchmarks.md), these were 13% and 10% of the time.

//go:linkname sgExecWhere github.com/gomlx/gomlx/backends/simplego.execWhere
func sgExecWhere(backend *sgBackend, node *sgNode, inputs []*sgBuffer, inputsOwned []bool) (*sgBuffer, error)

//go:linkname sgExecSign github.com/gomlx/gomlx/backends/simplego.execSign
func sgExecSign(backend *sgBackend, node *sgNode, inputs []*sgBuffer, inputsOwned []bool) (*sgBuffer, error)

//go:linkname sgExecConvertDType github.com/gomlx/gomlx/backends/simplego.execConvertDType
func sgExecConvertDType(backend *sgBackend, node *sgNode, inputs []*sgBuffer, inputsOwned []bool) (*sgBuffer, error)

//go:linkname sgExecBroadcastInDim github.com/gomlx/gomlx/backends/simplego.execBroadcastInDim
func sgExecBroadcastInDim(backend *sgBackend, node *sgNode, inputs []*sgBuffer, inputsOwned []bool) (*sgBuffer, error)

//go:linkname sgExecReduce github.com/gomlx/gomlx/backends/simplego.execReduce
func sgExecReduce(backend *sgBackend, node *sgNode, inputs []*sgBuffer, inputsOwned []bool) (*sgBuffer, error)

// execWhere32 selects element-wise without branches when the condition and
// the output have the same size and each branch is full-size or a scalar.
func execWhere32(backend *sgBackend, node *sgNode, inputs []*sgBuffer, inputsOwned []bool) (*sgBuffer, error) {
	cond, onTrue, onFalse := inputs[0], inputs[1], inputs[2]
	n := node.shape.Size()
	full := func(b *sgBuffer) bool { return b.shape.Size() == n || b.shape.Size() == 1 }
	if node.shape.DType != dtypes.Float32 || cond.shape.Size() != n || n < 8 || !full(onTrue) || !full(onFalse) {
		return sgExecWhere(backend, node, inputs, inputsOwned)
	}
	out := sgGetBufferForShape(backend, node.shape)
	selectFloat32(out.flat.([]float32)[:n], cond.flat.([]bool)[:n], onTrue.flat.([]float32), onFalse.flat.([]float32))
	return out, nil
}

// selectFloat32 sets o[i] = a[i] where c[i], else b[i]; a or b of length 1
// stands for that value everywhere (read with a stride of 0, no copy).
func selectFloat32(o []float32, c []bool, a, b []float32) {
	sa, sb := 1, 1
	if len(a) == 1 {
		sa = 0
	}
	if len(b) == 1 {
		sb = 0
	}
	for i := range o {
		// A bool is one byte, 0 or 1: 0 − 1 = all ones selects a.
		m := -uint32(*(*uint8)(unsafe.Pointer(&c[i])))
		o[i] = fromBits(toBits(a[i*sa])&m | toBits(b[i*sb])&^m)
	}
}

func toBits(f float32) uint32   { return *(*uint32)(unsafe.Pointer(&f)) }
func fromBits(u uint32) float32 { return *(*float32)(unsafe.Pointer(&u)) }

// execReduceSum32 sums float32 tensors over a contiguous run of axes:
// leading (the bias gradients (batch, out) → (out)), trailing (per-row sums,
// totals) or in the middle (per-channel sums over the positions of
// (batch, positions, channels) images, which simplego runs element by
// element through an index iterator).
func execReduceSum32(backend *sgBackend, node *sgNode, inputs []*sgBuffer, inputsOwned []bool) (*sgBuffer, error) {
	in := inputs[0]
	axes, ok := node.data.([]int)
	if !ok || in.shape.DType != dtypes.Float32 || len(axes) == 0 {
		return sgExecReduce(backend, node, inputs, inputsOwned)
	}
	outer, mid, inner, ok := reduceLayout(in.shape, axes)
	if !ok {
		return sgExecReduce(backend, node, inputs, inputsOwned)
	}
	out := sgGetBufferForShape(backend, node.shape)
	x, o := in.flat.([]float32)[:outer*mid*inner], out.flat.([]float32)[:node.shape.Size()]
	switch {
	case mid == 0:
		clear(o)
	case inner == 1:
		sumCols(o, x, mid)
	default:
		for b := range outer {
			sumRows(o[b*inner:(b+1)*inner], x[b*mid*inner:(b+1)*mid*inner], inner)
		}
	}
	return out, nil
}

// reduceLayout views a tensor as (outer, mid, inner) in row-major order,
// the reduced axes making up mid; ok is false when they are not contiguous.
func reduceLayout(s shapes.Shape, axes []int) (outer, mid, inner int, ok bool) {
	ax := axes
	if !slices.IsSorted(ax) {
		ax = slices.Clone(axes)
		slices.Sort(ax)
	}
	for i, a := range ax {
		if a != ax[0]+i {
			return 0, 0, 0, false // not contiguous
		}
	}
	prod := func(d []int) int {
		p := 1
		for _, v := range d {
			p *= v
		}
		return p
	}
	first, last := ax[0], ax[len(ax)-1]+1
	return prod(s.Dimensions[:first]), prod(s.Dimensions[first:last]), prod(s.Dimensions[last:]), true
}

// sumRows sets o (cols) to the sum of the rows of x (rows, cols).
func sumRows(o, x []float32, cols int) {
	copy(o, x[:cols])
	for lo := cols; lo < len(x); lo += cols {
		row := x[lo : lo+cols]
		done := binOpVector(o, o, row, opAdd, false, false)
		for j := done; j < cols; j++ {
			o[j] += row[j]
		}
	}
}

// sumCols sets o[i] to the sum of row i of x (rows, cols), with four
// partial sums.
func sumCols(o, x []float32, cols int) {
	for i := range o {
		row := x[i*cols : (i+1)*cols]
		var s0, s1, s2, s3 float32
		j := 0
		for ; j+4 <= cols; j += 4 {
			s0 += row[j]
			s1 += row[j+1]
			s2 += row[j+2]
			s3 += row[j+3]
		}
		for ; j < cols; j++ {
			s0 += row[j]
		}
		o[i] = (s0 + s1) + (s2 + s3)
	}
}

// sign32Slice sets dst[i] to the sign of src[i] (−1, 0 or 1; 0 for NaN, as
// simplego) without branches: ReLU gradients take the sign of activations
// whose signs vary at random. With AVX2, eight at a time.
func sign32Slice(dst, src []float32) {
	done := signVector(dst, src)
	for i := done; i < len(src); i++ {
		x := src[i]
		pos, neg := x > 0, x < 0
		dst[i] = float32(int32(*(*uint8)(unsafe.Pointer(&pos))) - int32(*(*uint8)(unsafe.Pointer(&neg))))
	}
}

// execBoolToFloat32 converts Bool to Float32 without branches (the 0/1
// masks of ELU and ReLU); other conversions go to simplego.
func execBoolToFloat32(backend *sgBackend, node *sgNode, inputs []*sgBuffer, inputsOwned []bool) (*sgBuffer, error) {
	in := inputs[0]
	if in.shape.DType != dtypes.Bool || node.shape.DType != dtypes.Float32 {
		return sgExecConvertDType(backend, node, inputs, inputsOwned)
	}
	out := sgGetBufferForShape(backend, node.shape)
	o, c := out.flat.([]float32)[:node.shape.Size()], in.flat.([]bool)
	for i := range o {
		o[i] = float32(*(*uint8)(unsafe.Pointer(&c[i])))
	}
	return out, nil
}

// trailingBroadcast reports whether small (of the same rank as full) is
// full with its trailing axes (one or more) of size 1: each value of small
// stands for a contiguous block of full.
func trailingBroadcast(small, full shapes.Shape) bool {
	r := full.Rank()
	if small.Rank() != r || small.Size() >= full.Size() {
		return false
	}
	k := r
	for k > 0 && small.Dimensions[k-1] == 1 {
		k--
	}
	return k < r && slices.Equal(small.Dimensions[:k], full.Dimensions[:k])
}

// execBroadcast32 broadcasts float32 operands of the output's rank with
// axes kept in order: a copy when only axes of size 1 are added, a value
// per row repeated along the trailing axes ((…, 1, 1) → (…, m, n); (…, 1) →
// (…, n) is what GoMLX's gradient of a masked product builds), or rows
// repeated along leading axes ((1, …) → (m, …)), or a single value.
// Other cases go to simplego, whose per-element index iterator these
// replace.
func execBroadcast32(backend *sgBackend, node *sgNode, inputs []*sgBuffer, inputsOwned []bool) (*sgBuffer, error) {
	in := inputs[0]
	axes, ok := node.data.([]int)
	out := node.shape
	if !ok || in.shape.DType != dtypes.Float32 || out.DType != dtypes.Float32 || in.shape.Rank() != out.Rank() {
		return sgExecBroadcastInDim(backend, node, inputs, inputsOwned)
	}
	for i, a := range axes {
		if a != i {
			return sgExecBroadcastInDim(backend, node, inputs, inputsOwned)
		}
	}
	x := in.flat.([]float32)
	switch {
	case in.shape.Size() == 1:
		buf := sgGetBufferForShape(backend, out)
		o := buf.flat.([]float32)[:out.Size()]
		for i := range o {
			o[i] = x[0]
		}
		return buf, nil
	case in.shape.Size() == out.Size(): // only axes of size 1 added
		buf := sgGetBufferForShape(backend, out)
		copy(buf.flat.([]float32)[:out.Size()], x[:out.Size()])
		return buf, nil
	case trailingBroadcast(in.shape, out):
		buf := sgGetBufferForShape(backend, out)
		o, n := buf.flat.([]float32)[:out.Size()], out.Size()/in.shape.Size()
		for i, v := range x[:in.shape.Size()] {
			row := o[i*n : (i+1)*n]
			for j := range row {
				row[j] = v
			}
		}
		return buf, nil
	case rowBroadcast(in.shape, out):
		buf := sgGetBufferForShape(backend, out)
		o, n := buf.flat.([]float32)[:out.Size()], in.shape.Size()
		for lo := 0; lo < len(o); lo += n {
			copy(o[lo:lo+n], x[:n])
		}
		return buf, nil
	}
	return sgExecBroadcastInDim(backend, node, inputs, inputsOwned)
}

package kernels

import (
	"math"
	"reflect"
	"slices"
	"sync"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// sgBuffer mirrors the layout of simplego.Buffer (v0.26.0).
type sgBuffer struct {
	shape shapes.Shape
	valid bool
	flat  any
}

// sgBackend stands for simplego's *Backend, which the kernels only pass
// through.
type sgBackend struct{}

// sgNode mirrors the layout of simplego.Node (v0.26.0).
type sgNode struct {
	builderIdx         int
	inputs             []*sgNode
	opType             backends.OpType
	shape              shapes.Shape
	builder            unsafe.Pointer
	multiOutputsShapes []shapes.Shape
	multiOutputsNodes  []*sgNode
	isNodeSelectOutput bool
	selectOutputIdx    int
	data               any
}

// sgDotData mirrors simplego's dotGeneralNodeData (v0.26.0), the data of a
// DotGeneral node.
type sgDotData struct {
	lhsContractingAxes, lhsBatchAxes                     []int
	rhsContractingAxes, rhsBatchAxes                     []int
	batchSize, lhsCrossSize, rhsCrossSize, contracting   int
	lhsBlockedShape, rhsBlockedShape, outputBlockedShape shapes.Shape
}

// sgExecutor has the signature of simplego's nodeExecutor.
type sgExecutor func(backend *sgBackend, node *sgNode, inputs []*sgBuffer, inputsOwned []bool) (*sgBuffer, error)

// sgPriorityUser is simplego's priorityUser: custom overrides win over the
// generic and typed kernels.
const sgPriorityUser = 100

// sgNodeExecutorsPriority is simplego's nodeExecutorsPriority, the priority
// of each op's executor (read by Active).
//
//go:linkname sgNodeExecutorsPriority github.com/gomlx/gomlx/backends/simplego.nodeExecutorsPriority
var sgNodeExecutorsPriority [backends.OpTypeLast]int

//go:linkname sgSetNodeExecutor github.com/gomlx/gomlx/backends/simplego.setNodeExecutor
func sgSetNodeExecutor(opType backends.OpType, priority int, executor sgExecutor)

//go:linkname sgUnaryOperandAndOutput github.com/gomlx/gomlx/backends/simplego.unaryOperandAndOutput
func sgUnaryOperandAndOutput(backend *sgBackend, inputs []*sgBuffer, inputsOwned []bool) (input, output *sgBuffer)

//go:linkname sgGetBufferForShape github.com/gomlx/gomlx/backends/simplego.(*Backend).getBufferForShape
func sgGetBufferForShape(backend *sgBackend, shape shapes.Shape) *sgBuffer

//go:linkname sgExecDotGeneral github.com/gomlx/gomlx/backends/simplego.execDotGeneral
func sgExecDotGeneral(backend *sgBackend, node *sgNode, inputs []*sgBuffer, inputsOwned []bool) (*sgBuffer, error)

//go:linkname sgExecTanh github.com/gomlx/gomlx/backends/simplego.execTanh
func sgExecTanh(backend *sgBackend, node *sgNode, inputs []*sgBuffer, inputsOwned []bool) (*sgBuffer, error)

//go:linkname sgExecLogistic github.com/gomlx/gomlx/backends/simplego.execLogistic
func sgExecLogistic(backend *sgBackend, node *sgNode, inputs []*sgBuffer, inputsOwned []bool) (*sgBuffer, error)

//go:linkname sgExecExp github.com/gomlx/gomlx/backends/simplego.execExp
func sgExecExp(backend *sgBackend, node *sgNode, inputs []*sgBuffer, inputsOwned []bool) (*sgBuffer, error)

//go:linkname sgBinaryOperandsAndOutput github.com/gomlx/gomlx/backends/simplego.binaryOperandsAndOutput
func sgBinaryOperandsAndOutput(backend *sgBackend, inputs []*sgBuffer, inputsOwned []bool, outputShape shapes.Shape) (lhs, rhs, output *sgBuffer, lhsIsScalarOr1, rhsIsScalarOr1 bool)

//go:linkname sgExecAdd github.com/gomlx/gomlx/backends/simplego.execAdd
func sgExecAdd(backend *sgBackend, node *sgNode, inputs []*sgBuffer, inputsOwned []bool) (*sgBuffer, error)

//go:linkname sgExecMul github.com/gomlx/gomlx/backends/simplego.execMul
func sgExecMul(backend *sgBackend, node *sgNode, inputs []*sgBuffer, inputsOwned []bool) (*sgBuffer, error)

//go:linkname sgExecSub github.com/gomlx/gomlx/backends/simplego.execSub
func sgExecSub(backend *sgBackend, node *sgNode, inputs []*sgBuffer, inputsOwned []bool) (*sgBuffer, error)

// simplegoLayoutOK checks on a real simplego buffer that sgBuffer mirrors
// simplego.Buffer.
func simplegoLayoutOK() bool {
	return withSimplego(func(b backends.Backend) bool {
		data := []float32{1.5, -2.5, 3.25}
		shape := shapes.Make(dtypes.Float32, 3)
		buf, err := b.BufferFromFlatData(0, data, shape)
		if err != nil {
			return false
		}
		defer func() { _ = b.BufferFinalize(buf) }()
		v := reflect.ValueOf(buf)
		if v.Kind() != reflect.Pointer || v.Type().Elem().Size() != unsafe.Sizeof(sgBuffer{}) {
			return false
		}
		m := (*sgBuffer)(v.UnsafePointer())
		flat, isF32 := m.flat.([]float32)
		return m.shape.Equal(shape) && m.valid && isF32 && slices.Equal(flat, data)
	})
}

// simplegoDotLayoutOK checks on a real simplego DotGeneral node that sgNode
// and sgDotData mirror simplego's Node and dotGeneralNodeData.
func simplegoDotLayoutOK() bool {
	return withSimplegoBuilder(checkDotLayout)
}

// withSimplegoBuilder runs check on a builder of a fresh simplego backend.
func withSimplegoBuilder(check func(bld backends.Builder) bool) bool {
	return withSimplego(func(b backends.Backend) bool { return check(b.Builder("gosde_layout_check")) })
}

// withSimplego runs check on a fresh simplego backend; a panic or an error
// counts as a failed check.
func withSimplego(check func(b backends.Backend) bool) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	b, err := simplego.New("")
	if err != nil {
		return false
	}
	defer b.Finalize()
	return check(b)
}

func checkDotLayout(bld backends.Builder) bool {
	lhs, err1 := bld.Parameter("lhs", shapes.Make(dtypes.Float32, 2, 3, 4), nil)
	rhs, err2 := bld.Parameter("rhs", shapes.Make(dtypes.Float32, 2, 4, 5), nil)
	if err1 != nil || err2 != nil {
		return false
	}
	dot, err := bld.DotGeneral(lhs, []int{2}, []int{0}, rhs, []int{1}, []int{0})
	if err != nil {
		return false
	}
	v := reflect.ValueOf(dot)
	if v.Kind() != reflect.Pointer || v.Type().Elem().Name() != "Node" || v.Type().Elem().Size() != unsafe.Sizeof(sgNode{}) {
		return false
	}
	// simplego's DotGeneral returns a Reshape of the DotGeneral node, whose
	// output is the normalised (batch, lhs cross, rhs cross).
	n := (*sgNode)(v.UnsafePointer())
	if len(n.inputs) != 1 {
		return false
	}
	n = n.inputs[0]
	dv := reflect.ValueOf(n.data)
	if n.opType != backends.OpTypeDotGeneral || !n.shape.Equal(shapes.Make(dtypes.Float32, 2, 3, 5)) || len(n.inputs) != 2 ||
		dv.Kind() != reflect.Pointer || dv.Type().Elem().Name() != "dotGeneralNodeData" || dv.Type().Elem().Size() != unsafe.Sizeof(sgDotData{}) {
		return false
	}
	d := (*sgDotData)(dv.UnsafePointer())
	dotDataType = efaceType(&n.data)
	return slices.Equal(d.lhsContractingAxes, []int{2}) && slices.Equal(d.lhsBatchAxes, []int{0}) &&
		slices.Equal(d.rhsContractingAxes, []int{1}) && slices.Equal(d.rhsBatchAxes, []int{0}) &&
		d.batchSize == 2 && d.lhsCrossSize == 3 && d.rhsCrossSize == 5 && d.contracting == 4
}

// dotDataType is the type word of simplego's *dotGeneralNodeData in an
// interface, recorded by simplegoDotLayoutOK.
var dotDataType unsafe.Pointer

// efaceType and efaceData return the type and data words of an interface
// value (Go's eface layout).
func efaceType(v *any) unsafe.Pointer { return (*[2]unsafe.Pointer)(unsafe.Pointer(v))[0] }
func efaceData(v *any) unsafe.Pointer { return (*[2]unsafe.Pointer)(unsafe.Pointer(v))[1] }

// dotData returns the node's DotGeneral parameters, or nil if its data is
// not simplego's *dotGeneralNodeData.
func dotData(node *sgNode) *sgDotData {
	if node.data == nil || dotDataType == nil || efaceType(&node.data) != dotDataType {
		return nil
	}
	return (*sgDotData)(efaceData(&node.data))
}

// execDotGeneral32 runs float32 matrix products without batch axes (rank-2
// operands, one contracting axis each: x·W, x·Wᵀ and xᵀ·W, the products of
// dense layers and their gradients) with AVX2 FMA kernels where the CPU has
// them and register-blocked loops otherwise; simplego first copies both
// operands into a normalised layout and then loops with short inner
// dimensions. Other cases go to simplego.
func execDotGeneral32(backend *sgBackend, node *sgNode, inputs []*sgBuffer, inputsOwned []bool) (*sgBuffer, error) {
	l, r := inputs[0], inputs[1]
	d := dotData(node)
	if d == nil || l.shape.DType != dtypes.Float32 || r.shape.DType != dtypes.Float32 || node.shape.DType != dtypes.Float32 ||
		l.shape.Rank() != 2 || r.shape.Rank() != 2 || len(d.lhsBatchAxes) != 0 || len(d.rhsBatchAxes) != 0 ||
		len(d.lhsContractingAxes) != 1 || len(d.rhsContractingAxes) != 1 {
		return sgExecDotGeneral(backend, node, inputs, inputsOwned)
	}
	lc, rc := d.lhsContractingAxes[0], d.rhsContractingAxes[0]
	if lc == 0 && rc == 1 || l.shape.Dimensions[lc] == 0 {
		return sgExecDotGeneral(backend, node, inputs, inputsOwned)
	}
	m, k, n := l.shape.Dimensions[1-lc], l.shape.Dimensions[lc], r.shape.Dimensions[1-rc]
	out := sgGetBufferForShape(backend, node.shape)
	o := out.flat.([]float32)[:m*n]
	lf, rf := l.flat.([]float32)[:m*k], r.flat.([]float32)[:k*n]
	switch {
	case lc == 1 && rc == 0: // o = a·b
		matmulStrided(o, lf, rf, m, k, n, k, 1)
	case lc == 0 && rc == 0: // o = aᵀ·b, a (k×m)
		matmulStrided(o, lf, rf, m, k, n, 1, m)
	default: // o = a·bᵀ, b (n×k): transpose b into scratch first
		bt := getScratch(k * n)
		for j := range n {
			row := rf[j*k : j*k+k]
			for p, v := range row {
				bt[p*n+j] = v
			}
		}
		matmulStrided(o, lf, bt, m, k, n, k, 1)
		putScratch(bt)
	}
	return out, nil
}

// scratchPool holds float32 scratch slices for transposes.
var scratchPool sync.Pool

func getScratch(n int) []float32 {
	if p, ok := scratchPool.Get().(*[]float32); ok && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]float32, n)
}

func putScratch(s []float32) { scratchPool.Put(&s) }

// parallelMACs is the size (multiply-adds) from which a product is split
// over the CPUs by rows. Smaller products (those of the SDE benchmarks, whose
// batch is already split over goroutines by the solver) stay on one core.
const parallelMACs = 1 << 22

// matmulStrided sets o (m×n) = A·B with A(i, p) = a[i·sai + p·sap] and b
// (k×n), k ≥ 1, splitting large products by rows over the CPUs.
func matmulStrided(o, a, b []float32, m, k, n, sai, sap int) {
	if n < 8 && sai == 1 && m >= 8 && hasAVX2FMA {
		// Few output columns and A stored transposed (xᵀ·dy for an output
		// layer's weights): compute oᵀ = Bᵀ·Aᵀ, whose rows are long and
		// whose right operand (a, k×m) is read row by row, then transpose.
		ot := getScratch(n * m)
		matmulStrided(ot, b, a, n, k, m, 1, n)
		for j := range n {
			for i, v := range ot[j*m : j*m+m] {
				o[i*n+j] = v
			}
		}
		putScratch(ot)
		return
	}
	parallelRanges(m, m/16, m*k*n, func(lo, hi int) {
		matmulRows(o[lo*n:], a[lo*sai:], b, hi-lo, k, n, sai, sap)
	})
}

// matmulRows is matmulStrided on the calling goroutine: the vector kernels
// (matmulVector: all columns with AVX-512, the leading multiple of 8 with
// AVX2, the rest as one padded 8-column AVX2 product), scalar loops (four
// columns at a time) without them.
func matmulRows(o, a, b []float32, m, k, n, sai, sap int) {
	j0 := matmulVector(o, a, b, m, k, n, sai, sap)
	if r := n - j0; r > 0 && hasAVX2FMA && m*k*r >= 1024 {
		// The last r < 8 columns: one 8-column AVX2 product against those
		// columns of B padded with zeros (8/r times the arithmetic at about
		// ten times the speed of the scalar loop), then copied out.
		bp, op := getScratch(k*8), getScratch(m*8)
		clear(bp)
		for p := range k {
			copy(bp[p*8:p*8+r], b[p*n+j0:p*n+n])
		}
		if matmulVector(op, a, bp, m, k, 8, sai, sap) == 8 {
			for i := range m {
				copy(o[i*n+j0:i*n+n], op[i*8:i*8+r])
			}
			j0 = n
		}
		putScratch(bp)
		putScratch(op)
	}
	for i := range m {
		oi := o[i*n : i*n+n]
		j := j0
		for ; j+4 <= n; j += 4 {
			var s0, s1, s2, s3 float32
			for p := range k {
				av := a[i*sai+p*sap]
				bp := b[p*n+j : p*n+j+4]
				s0 += av * bp[0]
				s1 += av * bp[1]
				s2 += av * bp[2]
				s3 += av * bp[3]
			}
			oi[j], oi[j+1], oi[j+2], oi[j+3] = s0, s1, s2, s3
		}
		for ; j < n; j++ {
			var s float32
			for p := range k {
				s += a[i*sai+p*sap] * b[p*n+j]
			}
			oi[j] = s
		}
	}
}

// float32Unary returns an executor that runs kernel on float32 tensors and
// fallback on other dtypes.
func float32Unary(kernel func(dst, src []float32), fallback sgExecutor) sgExecutor {
	return func(backend *sgBackend, node *sgNode, inputs []*sgBuffer, inputsOwned []bool) (*sgBuffer, error) {
		if inputs[0].shape.DType != dtypes.Float32 {
			return fallback(backend, node, inputs, inputsOwned)
		}
		in, out := sgUnaryOperandAndOutput(backend, inputs, inputsOwned)
		kernel(out.flat.([]float32), in.flat.([]float32))
		return out, nil
	}
}

// rowBroadcast reports whether small (of the same rank as full) is full
// broadcast along leading axes only: small's dimensions are 1 up to some
// axis and equal to full's from there on, and small has more than one
// element (scalars have their own fast path in simplego).
func rowBroadcast(small, full shapes.Shape) bool {
	if small.Rank() != full.Rank() || small.Size() <= 1 || small.Size() >= full.Size() {
		return false
	}
	lead := true
	for i, d := range small.Dimensions {
		if lead && d == 1 && full.Dimensions[i] != 1 {
			continue
		}
		lead = false
		if d != full.Dimensions[i] {
			return false
		}
	}
	return true
}

// colBroadcast reports whether small (of the same rank as full) is full
// with its last axis of size 1: a per-row value (a mask, say) applied along
// the rows.
func colBroadcast(small, full shapes.Shape) bool {
	r := full.Rank()
	if small.Rank() != r || r < 2 || small.Dimensions[r-1] != 1 || full.Dimensions[r-1] < 2 {
		return false
	}
	return slices.Equal(small.Dimensions[:r-1], full.Dimensions[:r-1])
}

// midBroadcast returns the number of leading elements (the product of the
// leading axes) when small (of the same rank as full) is full with a
// contiguous run of middle axes of size 1, such as per-(image, channel)
// values (b, 1, c) applied to every position of (b, s, c); else 0.
func midBroadcast(small, full shapes.Shape) int {
	r := full.Rank()
	if small.Rank() != r || small.Size() <= 1 || small.Size() >= full.Size() {
		return 0
	}
	outer, i := 1, 0
	for ; i < r && small.Dimensions[i] == full.Dimensions[i]; i++ {
		outer *= full.Dimensions[i]
	}
	for ; i < r && small.Dimensions[i] == 1; i++ {
	}
	for ; i < r; i++ {
		if small.Dimensions[i] != full.Dimensions[i] {
			return 0
		}
	}
	return outer
}

// midOpExec runs o = l op r where one operand is the other with middle axes
// of size 1 (midBroadcast), block by block of the leading axes: each block
// is a row broadcast.
func midOpExec(op binOp, backend *sgBackend, inputs []*sgBuffer, inputsOwned []bool) (*sgBuffer, error) {
	ls, rs := inputs[0].shape, inputs[1].shape
	outShape, outer := ls, midBroadcast(rs, ls)
	if outer == 0 {
		outShape, outer = rs, midBroadcast(ls, rs)
	}
	lhs, rhs, out, _, _ := sgBinaryOperandsAndOutput(backend, inputs, inputsOwned, outShape)
	o := out.flat.([]float32)[:outShape.Size()]
	l, r := lhs.flat.([]float32)[:ls.Size()], rhs.flat.([]float32)[:rs.Size()]
	bo, bl, br := len(o)/outer, len(l)/outer, len(r)/outer
	for b := range outer {
		rowBroadcastLoop(op, o[b*bo:(b+1)*bo], l[b*bl:(b+1)*bl], r[b*br:(b+1)*br])
	}
	return out, nil
}

// colOpExec runs o = l op r where one operand is the other with its last
// axis of size 1, row by row (each row against one value).
func colOpExec(op binOp, backend *sgBackend, inputs []*sgBuffer, inputsOwned []bool) (*sgBuffer, error) {
	ls, rs := inputs[0].shape, inputs[1].shape
	outShape, rev := ls, false
	if colBroadcast(ls, rs) {
		outShape, rev = rs, true
	}
	lhs, rhs, out, _, _ := sgBinaryOperandsAndOutput(backend, inputs, inputsOwned, outShape)
	x, c := lhs.flat.([]float32), rhs.flat.([]float32)
	if rev {
		x, c = c, x
	}
	cols := outShape.Dimensions[outShape.Rank()-1]
	o := out.flat.([]float32)[:outShape.Size()]
	for i := range outShape.Size() / cols {
		oi, xi := o[i*cols:(i+1)*cols], x[i*cols:(i+1)*cols]
		done := binOpVector(oi, xi, c[i:i+1], op, true, rev && op == opSub)
		binOpTail(op, oi[done:], xi[done:], c[i:i+1], true, rev && op == opSub)
	}
	return out, nil
}

// float32RowBroadcast returns an executor for a binary op that handles
// float32 operands where one is broadcast along leading axes (a bias row
// added to a batch, for instance) with a plain loop; simplego runs these
// through a generic per-element index iterator, about 10x slower. On CPUs
// with AVX2 it also runs same-shape and scalar-operand cases (8 lanes at a
// time). Other cases go to fallback.
func float32RowBroadcast(op binOp, fallback sgExecutor) sgExecutor {
	return func(backend *sgBackend, node *sgNode, inputs []*sgBuffer, inputsOwned []bool) (*sgBuffer, error) {
		ls, rs := inputs[0].shape, inputs[1].shape
		if ls.DType != dtypes.Float32 || rs.DType != dtypes.Float32 {
			return fallback(backend, node, inputs, inputsOwned)
		}
		var outShape shapes.Shape
		switch {
		case rowBroadcast(rs, ls):
			outShape = ls
		case rowBroadcast(ls, rs):
			outShape = rs
		case hasAVX2FMA && (ls.Equal(rs) || rs.Size() == 1 || ls.Size() == 1) && max(ls.Size(), rs.Size()) >= 8:
			return binOpExec(op, backend, inputs, inputsOwned)
		case colBroadcast(rs, ls) || colBroadcast(ls, rs):
			return colOpExec(op, backend, inputs, inputsOwned)
		case midBroadcast(rs, ls) > 1 || midBroadcast(ls, rs) > 1:
			return midOpExec(op, backend, inputs, inputsOwned)
		default:
			return fallback(backend, node, inputs, inputsOwned)
		}
		lhs, rhs, out, _, _ := sgBinaryOperandsAndOutput(backend, inputs, inputsOwned, outShape)
		o := out.flat.([]float32)
		rowBroadcastLoop(op, o[:outShape.Size()], lhs.flat.([]float32), rhs.flat.([]float32))
		return out, nil
	}
}

// binOpExec runs a float32 binary op on operands of the same shape, or with
// one of size 1, with the AVX2 kernel and a scalar loop for the tail.
func binOpExec(op binOp, backend *sgBackend, inputs []*sgBuffer, inputsOwned []bool) (*sgBuffer, error) {
	ls, rs := inputs[0].shape, inputs[1].shape
	outShape := ls
	if ls.Size() == 1 && rs.Size() > 1 {
		outShape = rs
	}
	lhs, rhs, out, _, _ := sgBinaryOperandsAndOutput(backend, inputs, inputsOwned, outShape)
	o := out.flat.([]float32)[:outShape.Size()]
	l, r := lhs.flat.([]float32), rhs.flat.([]float32)
	switch {
	case len(l) == len(r):
		done := binOpVector(o, l, r, op, false, false)
		binOpTail(op, o[done:], l[done:], r[done:], false, false)
	case len(r) == 1:
		done := binOpVector(o, l, r, op, true, false)
		binOpTail(op, o[done:], l[done:], r, true, false)
	default: // l is the scalar: o = c op r
		done := binOpVector(o, r, l, op, true, op == opSub)
		binOpTail(op, o[done:], r[done:], l, true, op == opSub)
	}
	return out, nil
}

// binOpTail computes o = x op y (y[0] if yScalar; y − x if rev) in Go.
func binOpTail(op binOp, o, x, y []float32, yScalar, rev bool) {
	for i := range o {
		yv := y[0]
		if !yScalar {
			yv = y[i]
		}
		switch {
		case op == opAdd:
			o[i] = x[i] + yv
		case op == opMul:
			o[i] = x[i] * yv
		case rev:
			o[i] = yv - x[i]
		default:
			o[i] = x[i] - yv
		}
	}
}

// binOp names the binary operations with a row-broadcast kernel.
type binOp int

const (
	opAdd binOp = iota
	opMul
	opSub
)

// rowBroadcastLoop computes o = l op r where the shorter of l and r repeats
// along o.
func rowBroadcastLoop(op binOp, o, l, r []float32) {
	if len(r) < len(o) && rowOpVector(o, l, r, op, false) || len(l) < len(o) && rowOpVector(o, r, l, op, op == opSub) {
		return
	}
	if len(r) < len(o) {
		for lo := 0; lo < len(o); lo += len(r) {
			ob, lb := o[lo:lo+len(r)], l[lo:lo+len(r)]
			switch op {
			case opAdd:
				for i, v := range r {
					ob[i] = lb[i] + v
				}
			case opMul:
				for i, v := range r {
					ob[i] = lb[i] * v
				}
			case opSub:
				for i, v := range r {
					ob[i] = lb[i] - v
				}
			}
		}
		return
	}
	for lo := 0; lo < len(o); lo += len(l) {
		ob, rb := o[lo:lo+len(l)], r[lo:lo+len(l)]
		switch op {
		case opAdd:
			for i, v := range l {
				ob[i] = v + rb[i]
			}
		case opMul:
			for i, v := range l {
				ob[i] = v * rb[i]
			}
		case opSub:
			for i, v := range l {
				ob[i] = v - rb[i]
			}
		}
	}
}

// Constants of expApprox.
const (
	log2e = 1.4426950408889634
	ln2Hi = 6.93147180369123816490e-01 // ln 2, upper bits (exact product with k)
	ln2Lo = 1.90821492927058770002e-10 // ln 2 − ln2Hi
	// expClamp keeps 2^k a normal float64; e^±700 is far outside float32.
	expClamp = 700
)

// expApprox returns e^y with a relative error below 1e-9 for |y| ≤ 700; y
// is clamped to [−700, 700] (results beyond overflow or underflow float32
// anyway). NaN gives NaN.
func expApprox(y float64) float64 {
	if y > expClamp {
		y = expClamp
	} else if y < -expClamp {
		y = -expClamp
	}
	k := math.Floor(y*log2e + 0.5)
	r := (y - k*ln2Hi) - k*ln2Lo // |r| ≤ ln2/2 ≈ 0.347
	// Taylor polynomial of degree 8: remainder < 0.347⁹/9! ≈ 2e-10.
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040+r*(1.0/40320))))))))
	return p * math.Float64frombits(uint64(int64(k)+1023)<<52)
}

// Odd Taylor coefficients of tanh: tanh x = x·Σ c_i x^{2i}.
const (
	tanhC3  = -1.0 / 3
	tanhC5  = 2.0 / 15
	tanhC7  = -17.0 / 315
	tanhC9  = 62.0 / 2835
	tanhC11 = -1382.0 / 155925
	tanhC13 = 21844.0 / 6081075
	// tanhSeriesMax: below it the series (to x¹³) has relative error < 1e-10.
	tanhSeriesMax = 0.3
	// tanhOne: above it tanh rounds to ±1 in float32 (1 − tanh(9.1) ≈ 2.5e-8).
	tanhOne = 9.1
)

// tanhApprox returns tanh(x) with a relative error below 1e-8.
func tanhApprox(x float64) float64 {
	a := math.Abs(x)
	switch {
	case a < tanhSeriesMax:
		x2 := x * x
		return x * (1 + x2*(tanhC3+x2*(tanhC5+x2*(tanhC7+x2*(tanhC9+x2*(tanhC11+x2*tanhC13))))))
	case a > tanhOne:
		return math.Copysign(1, x)
	}
	e := expApprox(-2 * a) // NaN stays NaN
	return math.Copysign((1-e)/(1+e), x)
}

// logisticApprox returns 1/(1 + e^−x) with a relative error below 1e-9.
func logisticApprox(x float64) float64 {
	return 1 / (1 + expApprox(-x))
}

// kernelBlock is the number of elements processed at a time in float64
// scratch space. Converting float32 → float64 → float32 element by element
// around the computation runs 4–5 times slower (conversion stalls) than
// separate loops over a small float64 block, and expBlock's loop, free of
// calls and of unpredictable branches, runs several elements at once.
const kernelBlock = 256

// expBlock replaces every b[i] by e^b[i] with expApprox's method, written
// for speed: no calls (k is rounded by adding and subtracting 1.5·2⁵², not
// by math.Floor, which is a call on amd64 v1 and spills every register) and
// the polynomial evaluated by Estrin's scheme (short dependency chains).
// The result differs from expApprox's only by rounding.
func expBlock(b []float64) {
	const magic = 1.5 * (1 << 52) // adding it rounds |v| < 2⁵¹ to an integer
	const (
		c2 = 1.0 / 2
		c3 = 1.0 / 6
		c4 = 1.0 / 24
		c5 = 1.0 / 120
		c6 = 1.0 / 720
		c7 = 1.0 / 5040
		c8 = 1.0 / 40320
	)
	for i, y := range b {
		if y > expClamp {
			y = expClamp
		} else if y < -expClamp {
			y = -expClamp
		}
		kt := y*log2e + magic
		k := kt - magic
		r := (y - k*ln2Hi) - k*ln2Lo
		r2 := r * r
		r4 := r2 * r2
		p := (1 + r) + r2*(c2+c3*r) + r4*((c4+c5*r)+r2*(c6+c7*r)+r4*c8)
		// The low bits of kt hold k (two's complement); k + 1023 is the
		// biased exponent of 2^k.
		b[i] = p * math.Float64frombits((math.Float64bits(kt)+1023)<<52)
	}
}

// blocks calls f on consecutive blocks of src and dst of at most
// kernelBlock elements, with a float64 scratch block.
func blocks(dst, src []float32, f func(d, s []float32, b []float64)) {
	var buf [kernelBlock]float64
	for lo := 0; lo < len(src); lo += kernelBlock {
		s := src[lo:min(lo+kernelBlock, len(src))]
		f(dst[lo:lo+len(s)], s, buf[:len(s)])
	}
}

func exp32Slice(dst, src []float32) {
	done := expLogisticVector(dst, src, false)
	dst, src = dst[done:], src[done:]
	blocks(dst, src, func(d, s []float32, b []float64) {
		for i, x := range s {
			b[i] = float64(x)
		}
		expBlock(b)
		for i, v := range b {
			d[i] = float32(v)
		}
	})
}

func logistic32Slice(dst, src []float32) {
	done := expLogisticVector(dst, src, true)
	dst, src = dst[done:], src[done:]
	blocks(dst, src, func(d, s []float32, b []float64) {
		for i, x := range s {
			b[i] = -float64(x)
		}
		expBlock(b)
		for i, e := range b {
			d[i] = float32(1 / (1 + e))
		}
	})
}

func tanh32Slice(dst, src []float32) {
	blocks(dst, src, func(d, s []float32, b []float64) {
		for i, x := range s {
			b[i] = -2 * math.Abs(float64(x))
		}
		expBlock(b)
		for i, e := range b {
			x := float64(s[i])
			var t float64
			switch a := math.Abs(x); {
			case a < tanhSeriesMax:
				x2 := x * x
				t = x * (1 + x2*(tanhC3+x2*(tanhC5+x2*(tanhC7+x2*(tanhC9+x2*(tanhC11+x2*tanhC13))))))
			case a > tanhOne:
				t = math.Copysign(1, x)
			default:
				t = math.Copysign((1-e)/(1+e), x) // NaN stays NaN
			}
			d[i] = float32(t)
		}
	})
}

package kernels

import (
	"reflect"
	"runtime"
	"slices"
	"sync"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// A ConvGeneral kernel for simplego: float32 2-D convolutions with stride 1,
// no dilation and no grouping, in two axis layouts:
//
//   - images (batch, height, width, channels) with a kernel (kh, kw, in,
//     out): the forward convolution, and the input gradient (the output
//     gradient convolved with the flipped, transposed kernel);
//   - the kernel gradient's layout, as GoMLX's own convolution gradient
//     writes it: the images' channel axis is the convolution's batch, their
//     batch axis its channels, and the "kernel" is the output gradient
//     (batch, ho, wo, out); the result is (kh, kw, in, out).
//
// simplego loops over every output element and kernel position with index
// arithmetic (a 3×3, 64-channel convolution of 64 images of 6×6 took about
// 0.4 s). Here the patches of a block of output positions are gathered into a
// small matrix that stays in cache (zeros where a window overlaps the
// padding: no padded copy of the images is made) and multiplied by the
// kernel with the register-blocked matrix product (matmulRows): the
// forward pass is blocks of patches · kernel, the kernel gradient the sum
// over blocks of patchesᵀ · output gradient. Other layouts, dtypes, strides,
// dilations and groups go to simplego's kernel.

// sgConvData mirrors simplego's convNode (v0.26.0).
type sgConvData struct {
	axes              backends.ConvolveAxesConfig
	strides           []int
	paddings          [][2]int
	inputDilations    []int
	kernelDilations   []int
	channelGroupCount int
	batchGroupCount   int

	hasInputDilations, hasKernelDilations            bool
	inputStrides, inputSpatialStrides, kernelStrides []int
	dilatedInputSpatialDims                          []int
}

// convDataType is the type word of simplego's *convNode in an interface,
// recorded by simplegoConvLayoutOK.
var convDataType unsafe.Pointer

//go:linkname sgExecConvGeneral github.com/gomlx/gomlx/backends/simplego.execConvGeneral
func sgExecConvGeneral(backend *sgBackend, node *sgNode, inputs []*sgBuffer, inputsOwned []bool) (*sgBuffer, error)

// convFallback runs the convolutions execConv32 does not (a variable so
// that tests can check which path ran).
var convFallback sgExecutor = sgExecConvGeneral

// Convolution axis layouts recognised by execConv32.
var (
	// ConvImagesAxes is the layout of a convolution of channels-last
	// images (batch, h, w, in) with a kernel (kh, kw, in, out).
	ConvImagesAxes = backends.ConvolveAxesConfig{
		InputBatch: 0, InputChannels: 3, InputSpatial: []int{1, 2},
		KernelInputChannels: 2, KernelOutputChannels: 3, KernelSpatial: []int{0, 1},
		OutputBatch: 0, OutputChannels: 3, OutputSpatial: []int{1, 2},
	}
	// ConvKernelGradAxes is the layout of the kernel gradient of such a
	// convolution: ConvGeneral(images, outputGradient) with these axes and
	// the forward paddings is (kh, kw, in, out).
	ConvKernelGradAxes = backends.ConvolveAxesConfig{
		InputBatch: 3, InputChannels: 0, InputSpatial: []int{1, 2},
		KernelInputChannels: 0, KernelOutputChannels: 3, KernelSpatial: []int{1, 2},
		OutputBatch: 2, OutputChannels: 3, OutputSpatial: []int{0, 1},
	}
)

func sameConvAxes(a, b backends.ConvolveAxesConfig) bool {
	return a.InputBatch == b.InputBatch && a.InputChannels == b.InputChannels && slices.Equal(a.InputSpatial, b.InputSpatial) &&
		a.KernelInputChannels == b.KernelInputChannels && a.KernelOutputChannels == b.KernelOutputChannels &&
		slices.Equal(a.KernelSpatial, b.KernelSpatial) &&
		a.OutputBatch == b.OutputBatch && a.OutputChannels == b.OutputChannels && slices.Equal(a.OutputSpatial, b.OutputSpatial)
}

// simplegoConvLayoutOK checks on a real ConvGeneral node that sgConvData
// mirrors simplego's convNode.
func simplegoConvLayoutOK() bool {
	return withSimplegoBuilder(checkConvLayout)
}

func checkConvLayout(bld backends.Builder) bool {
	x, err1 := bld.Parameter("x", shapes.Make(dtypes.Float32, 2, 5, 6, 3), nil)
	w, err2 := bld.Parameter("w", shapes.Make(dtypes.Float32, 3, 2, 3, 4), nil)
	if err1 != nil || err2 != nil {
		return false
	}
	pads := [][2]int{{1, 2}, {0, 1}}
	c, err := bld.ConvGeneral(x, w, ConvImagesAxes, []int{1, 1}, pads, nil, nil, 1, 1)
	if err != nil {
		return false
	}
	v := reflect.ValueOf(c)
	if v.Kind() != reflect.Pointer || v.Type().Elem().Size() != unsafe.Sizeof(sgNode{}) {
		return false
	}
	n := (*sgNode)(v.UnsafePointer())
	dv := reflect.ValueOf(n.data)
	if n.opType != backends.OpTypeConvGeneral || !n.shape.Equal(shapes.Make(dtypes.Float32, 2, 6, 6, 4)) ||
		dv.Kind() != reflect.Pointer || dv.Type().Elem().Name() != "convNode" || dv.Type().Elem().Size() != unsafe.Sizeof(sgConvData{}) {
		return false
	}
	d := (*sgConvData)(dv.UnsafePointer())
	convDataType = efaceType(&n.data)
	return sameConvAxes(d.axes, ConvImagesAxes) && slices.Equal(d.strides, []int{1, 1}) &&
		len(d.paddings) == 2 && d.paddings[0] == pads[0] && d.paddings[1] == pads[1] &&
		d.channelGroupCount == 1 && d.batchGroupCount == 1 && !d.hasInputDilations && !d.hasKernelDilations
}

// convGeom is the geometry of a stride-1 2-D convolution of channels-last
// images: n images of h×w×c, a kh×kw kernel, paddings pt, pb (rows) and pl,
// pr (columns), output ho×wo.
type convGeom struct {
	n, h, w, c, kh, kw, pt, pl, ho, wo int
}

// gatherPatches fills p (rows × kh·kw·c) with the patches of the output
// positions r0 … r0+rows−1 (flat over n, ho, wo): row r holds, tap by tap in
// (kh, kw, c) order, the pixels its window covers, zero outside the image.
func (g *convGeom) gatherPatches(p, x []float32, r0, rows int) {
	kwc := g.kw * g.c
	k := g.kh * kwc
	for r := range rows {
		pos := r0 + r
		j := pos % g.wo
		i := (pos / g.wo) % g.ho
		b := pos / (g.wo * g.ho)
		row := p[r*k : r*k+k]
		// Columns of the window inside the image: j0 … j1−1 (image
		// coordinates), at offset (j0 − (j − pl))·c in each tap row.
		jx := j - g.pl
		j0, j1 := max(jx, 0), min(jx+g.kw, g.w)
		for di := range g.kh {
			seg := row[di*kwc : di*kwc+kwc]
			ix := i - g.pt + di
			if ix < 0 || ix >= g.h || j0 >= j1 {
				clear(seg)
				continue
			}
			lead := (j0 - jx) * g.c
			clear(seg[:lead])
			src := ((b*g.h+ix)*g.w + j0) * g.c
			nc := (j1 - j0) * g.c
			copy(seg[lead:lead+nc], x[src:src+nc])
			clear(seg[lead+nc:])
		}
	}
}

// convChunkRows is the number of output positions gathered at once: a
// multiple of the kernels' six-row blocks, sized so that the patches of a
// 3×3, 64-channel convolution (48 × 576 floats) stay in the L2 cache.
const convChunkRows = 48

// convForward32 sets out (n·ho·wo × o) to the convolution of x with the
// kernel wk ((kh·kw·c) × o), chunk by chunk, over the CPUs when large.
func convForward32(out, x, wk []float32, g convGeom, o int) {
	k := g.kh * g.kw * g.c
	total := g.n * g.ho * g.wo
	chunks := (total + convChunkRows - 1) / convChunkRows
	run := func(c0, c1 int) {
		p := getScratch(convChunkRows * k)
		for ch := c0; ch < c1; ch++ {
			r0 := ch * convChunkRows
			rows := min(convChunkRows, total-r0)
			g.gatherPatches(p, x, r0, rows)
			matmulRows(out[r0*o:(r0+rows)*o], p[:rows*k], wk, rows, k, o, k, 1)
		}
		putScratch(p)
	}
	parallelRanges(chunks, chunks, total*k*o, run)
}

// convKernelGrad32 sets dw ((kh·kw·c) × o) to Σ over output positions of
// patchᵀ·dy, dy (n·ho·wo × o).
func convKernelGrad32(dw, x, dy []float32, g convGeom, o int) {
	k := g.kh * g.kw * g.c
	total := g.n * g.ho * g.wo
	if total == 0 {
		clear(dw)
		return
	}
	const rowsPer = 4 * convChunkRows
	chunks := (total + rowsPer - 1) / rowsPer
	// Each range of chunks sums into its own buffer; the buffers are added
	// in range order afterwards, so the result does not depend on which
	// goroutine finishes first.
	type partial struct {
		c0  int
		acc []float32
	}
	var mu sync.Mutex
	var parts []partial
	run := func(c0, c1 int) {
		p := getScratch(rowsPer * k)
		acc, tmp := getScratch(k*o), getScratch(k*o)
		for ch := c0; ch < c1; ch++ {
			r0 := ch * rowsPer
			rows := min(rowsPer, total-r0)
			g.gatherPatches(p, x, r0, rows)
			dst := tmp
			if ch == c0 {
				dst = acc
			}
			// patchesᵀ (k × rows) · dy (rows × o): A(i, q) = p[q·k + i].
			matmulRows(dst, p[:rows*k], dy[r0*o:(r0+rows)*o], k, rows, o, 1, k)
			if ch != c0 {
				addTo(acc, tmp)
			}
		}
		putScratch(p)
		putScratch(tmp)
		mu.Lock()
		parts = append(parts, partial{c0, acc})
		mu.Unlock()
	}
	parallelRanges(chunks, chunks, total*k*o, run)
	slices.SortFunc(parts, func(a, b partial) int { return a.c0 - b.c0 })
	copy(dw, parts[0].acc)
	putScratch(parts[0].acc)
	for _, pt := range parts[1:] {
		addTo(dw, pt.acc)
		putScratch(pt.acc)
	}
}

// addTo sets a[i] += b[i].
func addTo(a, b []float32) {
	n := binOpVector(a, a, b, opAdd, false, false)
	for i := n; i < len(a); i++ {
		a[i] += b[i]
	}
}

// parallelRanges runs run over [0, n) in contiguous ranges, one for each
// of up to maxWorkers goroutines (at most one per CPU) when the work
// (multiply-adds) reaches parallelMACs, else on the calling goroutine.
func parallelRanges(n, maxWorkers, macs int, run func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), maxWorkers)
	if workers < 2 || macs < parallelMACs {
		run(0, n)
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*n/workers, (w+1)*n/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(lo, hi)
		}()
	}
	wg.Wait()
}

// execConv32 runs the recognised float32 convolutions (see above) and
// passes everything else to simplego.
func execConv32(backend *sgBackend, node *sgNode, inputs []*sgBuffer, inputsOwned []bool) (*sgBuffer, error) {
	if node.data == nil || convDataType == nil || efaceType(&node.data) != convDataType {
		return convFallback(backend, node, inputs, inputsOwned)
	}
	d := (*sgConvData)(efaceData(&node.data))
	x, kb := inputs[0], inputs[1]
	if x.shape.DType != dtypes.Float32 || kb.shape.DType != dtypes.Float32 || x.shape.Rank() != 4 ||
		d.channelGroupCount != 1 || d.batchGroupCount != 1 || d.hasInputDilations || d.hasKernelDilations ||
		!slices.Equal(d.strides, []int{1, 1}) || len(d.paddings) != 2 ||
		d.paddings[0][0] < 0 || d.paddings[0][1] < 0 || d.paddings[1][0] < 0 || d.paddings[1][1] < 0 {
		return convFallback(backend, node, inputs, inputsOwned)
	}
	xd, kd, od := x.shape.Dimensions, kb.shape.Dimensions, node.shape.Dimensions
	g := convGeom{n: xd[0], h: xd[1], w: xd[2], c: xd[3], pt: d.paddings[0][0], pl: d.paddings[1][0]}
	var kernel func(out, x, k []float32, g convGeom, o int)
	switch {
	case sameConvAxes(d.axes, ConvImagesAxes):
		g.kh, g.kw, g.ho, g.wo = kd[0], kd[1], od[1], od[2]
		kernel = convForward32
	case sameConvAxes(d.axes, ConvKernelGradAxes):
		// x (n, h, w, c) with n as the channels; kb = dy (n, ho, wo, o);
		// out (kh, kw, c, o).
		g.kh, g.kw, g.ho, g.wo = od[0], od[1], kd[1], kd[2]
		kernel = convKernelGrad32
	default:
		return convFallback(backend, node, inputs, inputsOwned)
	}
	out := sgGetBufferForShape(backend, node.shape)
	kernel(out.flat.([]float32)[:node.shape.Size()], x.flat.([]float32), kb.flat.([]float32), g, kd[3])
	return out, nil
}

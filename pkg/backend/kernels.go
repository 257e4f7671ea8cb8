package backend

import "github.com/gosde/gosde/internal/kernels"

// gosde's fast float32 kernels for the embedded backend (simplego): Tanh,
// Logistic, Exp, broadcasting Add/Mul/Sub, rank-2 DotGeneral, stride-1
// channels-last ConvGeneral, Where, Sign, ReduceSum, Slice, Transpose and
// BroadcastInDim. They live in an internal package and are installed into
// simplego's executor table by New and NewWithConfig when these create an
// embedded backend (once per process); importing gosde's packages installs
// nothing. Installed, they apply to every simplego backend of the process.
// They mirror unexported layouts of GoMLX v0.26.0 (the version go.mod
// pins); when a layout self-check fails on another version, the kernels it
// guards are left out and one line on stderr says so.

// FastKernelsEnv is the environment variable that switches the fast kernels
// off, for comparisons; it is read once, when the first embedded backend is
// created. "0" installs none and also turns off the wrapper's Where folding
// (see Wrap). Otherwise it may list parts to leave out, comma-separated,
// each with a leading minus: "-fold" (Where folding), "-elementwise" (Tanh,
// Logistic, Exp), "-broadcast" (Add/Mul/Sub), "-where" (Where, Sign,
// Bool→Float32 and BroadcastInDim), "-reduce" (ReduceSum), "-slice"
// (Slice), "-dot" (DotGeneral), "-conv" (ConvGeneral), "-transpose"
// (Transpose), "-avx" (the AVX2 and AVX-512 versions of the kernels),
// "-avx512" (the AVX-512 matrix product only). Other entries are ignored
// with a line on stderr.
const FastKernelsEnv = kernels.EnvVar

// FastKernels reports whether gosde's fast float32 kernels are installed in
// the embedded backend: false until New or NewWithConfig has created an
// embedded backend, and when FastKernelsEnv is "0" or a layout self-check
// failed.
func FastKernels() bool { return kernels.Current().Kernels }

// FastBroadcast reports whether gosde's float32 Add, Mul and Sub kernels
// for broadcast operands are installed in the embedded backend: an operand
// with size-1 leading, middle or trailing axes (a bias row, per-(image,
// channel) values over the positions, a per-row mask) is then read in
// place, with no broadcast copy.
func FastBroadcast() bool { return kernels.Current().Broadcast }

// FastReduce reports whether gosde's float32 ReduceSum kernel is installed
// in the embedded backend: sums over a contiguous run of axes, middle ones
// included, then take one pass over their input.
func FastReduce() bool { return kernels.Current().Reduce }

// FastConv reports whether gosde's convolution kernel is installed in the
// embedded backend: graphs may then use ConvGeneral in the layouts
// ConvImagesAxes and ConvKernelGradAxes with stride 1 (pkg/nn does) instead
// of building convolutions from products.
func FastConv() bool { return kernels.Current().Conv }

// Convolution axis layouts run by gosde's convolution kernel (FastConv).
var (
	// ConvImagesAxes is the layout of a convolution of channels-last
	// images (batch, h, w, in) with a kernel (kh, kw, in, out).
	ConvImagesAxes = kernels.ConvImagesAxes
	// ConvKernelGradAxes is the layout of the kernel gradient of such a
	// convolution: ConvGeneral(images, outputGradient) with these axes and
	// the forward paddings is (kh, kw, in, out).
	ConvKernelGradAxes = kernels.ConvKernelGradAxes
)

// Package kernels holds gosde's fast float32 kernels for GoMLX's embedded
// pure-Go backend (simplego) and installs them into simplego's executor
// table when asked (Install). Importing the package changes nothing: the
// kernels are installed by backend.New and backend.NewWithConfig when they
// create an embedded ("go") backend, once per process.
//
// The kernels, float32 only:
//
//   - Tanh, Logistic, Exp: simplego converts every element to float64 and
//     calls math.Tanh / math.Exp (22–31 ns per value for Tanh, 9–10 for
//     Logistic, 6–9 for Exp on the 2-core test machine). Here they are
//     table-free approximations computed in float64 and rounded once: exp by
//     range reduction (y = k·ln2 + r, |r| ≤ ln2/2) and a degree-8 Taylor
//     polynomial (relative error below 1e-9), tanh by its odd series for
//     |x| < 0.3 and (1 − e)/(1 + e) with e = exp(−2|x|) above, the logistic
//     as 1/(1 + exp(−x)). Before rounding the relative error is below 1e-8
//     (tested against math.Tanh and math.Exp on dense grids and at the
//     extremes), so results are within one float32 ulp of the exact value.
//   - Add, Mul, Sub with an operand broadcast along leading (bias rows),
//     middle ((b, 1, c) against (b, s, c)) or trailing axes, which simplego
//     runs through a per-element index iterator; with AVX2, also same-shape
//     and scalar-operand cases, 8 lanes at a time.
//   - DotGeneral of rank-2 operands (x·W, x·Wᵀ, xᵀ·W), which simplego
//     first copies into a normalised layout; with AVX2 and FMA (and
//     AVX-512 where present), a register-blocked vector kernel, split over
//     the CPUs above 4M multiply-adds.
//   - ConvGeneral of stride-1 channels-last convolutions and their kernel
//     gradient (conv.go), as cache-sized blocks of patches times the kernel
//     on that product.
//   - Where, Sign, Bool→Float32, BroadcastInDim, ReduceSum over a
//     contiguous run of axes, unit-stride Slice and last-axis-preserving
//     Transpose as branch-free loops or contiguous runs (select.go,
//     slice.go).
//
// Float64 and every other case keep simplego's kernels (the originals are
// called as fallbacks).
//
// simplego has no public hook for kernels: Install puts them into its
// executor table at its "user override" priority through go:linkname
// references to unexported functions of GoMLX v0.26.0, the version go.mod
// pins (setNodeExecutor, unaryOperandAndOutput, binaryOperandsAndOutput,
// (*Backend).getBufferForShape and the original executors). Before
// installing, self-checks verify on a real simplego buffer and real
// DotGeneral, ConvGeneral and Slice nodes that the mirrored layouts
// (sgBuffer, sgNode, sgDotData, sgConvData, sgSliceData) still match; a
// kernel whose check fails is not installed, simplego's own runs instead,
// and Install says so in one line on stderr. Once installed, the kernels
// apply to every simplego backend in the process, wrapped or not. The AVX2
// versions run when golang.org/x/sys/cpu reports AVX2 and FMA
// (kernels_amd64.s).
//
// EnvVar (GOSDE_FAST_KERNELS) switches kernels off, for comparisons: "0"
// installs none (and turns off the backend wrapper's Where folding); a
// comma-separated list of parts, each with a leading minus, leaves those
// out (see Parts).
package kernels

package kernels

import "golang.org/x/sys/cpu"

// hasAVX2FMA reports whether the CPU runs the AVX2/FMA kernels.
var hasAVX2FMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// matmulAVX sets the first n8 columns of o (m×n) to A·B with A(i, p) =
// a[i·sai + p·sap] and b (k×n); n8 a multiple of 8, k ≥ 1 (AVX2 and FMA
// required; see kernels_amd64.s).
//
//go:noescape
func matmulAVX(o, a, b *float32, m, k, n, sai, sap, n8 int)

// matmulBlockAVX is matmulAVX for m a multiple of 6, register-blocked over
// six rows of o at a time (AVX2 and FMA required; see kernels_amd64.s).
//
//go:noescape
func matmulBlockAVX(o, a, b *float32, m, k, n, sai, sap, n8 int)

// matmulBlock512 sets all n columns of o (m×n) to A·B for m a multiple of
// 6, register-blocked over six rows and 32 columns with masked edges
// (AVX-512F required; see kernels_amd64.s).
//
//go:noescape
func matmulBlock512(o, a, b *float32, m, k, n, sai, sap int)

// hasAVX512 reports whether the CPU (and OS) run the AVX-512F kernel.
var hasAVX512 = cpu.X86.HasAVX512F

// Matrix-product kernels, slowest to fastest: the level matmulVector uses is
// the fastest the CPU runs (benchmarks lower it to time the others).
const (
	matmulLevelRow    = iota // one row of o at a time (matmulAVX)
	matmulLevelBlock6        // six rows at a time, AVX2 (matmulBlockAVX)
	matmulLevel512           // six rows at a time, AVX-512 (matmulBlock512)
)

// matmulLevel is the kernel matmulVector uses.
var matmulLevel = func() int {
	if hasAVX512 && hasAVX2FMA {
		return matmulLevel512
	}
	return matmulLevelBlock6
}()

// matmulVector computes the leading columns of o = A·B and returns how many
// it did (0 without AVX2/FMA). With AVX-512 and m ≥ 6 it does all n columns:
// whole blocks of six rows with matmulBlock512 and the last m mod 6 rows
// through a zero-padded six-row copy of A. Otherwise it does the leading
// multiple-of-8 columns: whole blocks of six rows with matmulBlockAVX, the
// remaining rows with matmulAVX.
func matmulVector(o, a, b []float32, m, k, n, sai, sap int) int {
	if !hasAVX2FMA || n == 0 || m == 0 || k == 0 || len(o) < m*n || len(b) < k*n || len(a) < (m-1)*sai+(k-1)*sap+1 {
		return 0
	}
	m6 := m - m%6
	if matmulLevel >= matmulLevel512 && m6 > 0 {
		matmulBlock512(&o[0], &a[0], &b[0], m6, k, n, sai, sap)
		if r := m - m6; r > 0 {
			ap, op := getScratch(6*k), getScratch(6*n)
			clear(ap[r*k:])
			for i := range r {
				for p := range k {
					ap[i*k+p] = a[(m6+i)*sai+p*sap]
				}
			}
			matmulBlock512(&op[0], &ap[0], &b[0], 6, k, n, k, 1)
			copy(o[m6*n:m*n], op[:r*n])
			putScratch(ap)
			putScratch(op)
		}
		return n
	}
	n8 := n &^ 7
	if n8 == 0 {
		return 0
	}
	if matmulLevel < matmulLevelBlock6 {
		m6 = 0
	}
	if m6 > 0 {
		matmulBlockAVX(&o[0], &a[0], &b[0], m6, k, n, sai, sap, n8)
	}
	if m6 < m {
		matmulAVX(&o[m6*n], &a[m6*sai], &b[0], m-m6, k, n, sai, sap, n8)
	}
	return n8
}

// expLogistic4AVX sets dst[i] = e^src[i], or the logistic 1/(1+e^−src[i])
// when logistic is true, for i < n, n a multiple of 4 (AVX2 and FMA
// required; see kernels_amd64.s).
//
//go:noescape
func expLogistic4AVX(dst, src *float32, n int, logistic bool)

// expLogisticVector computes the leading multiple of 4 of len(src) elements
// with expLogistic4AVX and returns how many it did (0 without AVX2/FMA).
func expLogisticVector(dst, src []float32, logistic bool) int {
	n := len(src) &^ 3
	if !hasAVX2FMA || n == 0 || len(dst) < n {
		return 0
	}
	expLogistic4AVX(&dst[0], &src[0], n, logistic)
	return n
}

// binOpAVX sets o[i] = x[i] op y[i] (y[0] when yScalar) for i < n, n a
// multiple of 8; op is a binOp, or 3 for y − x (AVX2 required; see
// kernels_amd64.s).
//
//go:noescape
func binOpAVX(o, x, y *float32, n, op int, yScalar bool)

// binOpVector computes the leading multiple of 8 of len(o) elements of
// o = x op y (y broadcast when yScalar; reversed subtraction when rev) with
// binOpAVX and returns how many it did (0 without AVX2).
func binOpVector(o, x, y []float32, op binOp, yScalar, rev bool) int {
	n := len(o) &^ 7
	if !hasAVX2FMA || n == 0 || len(x) < n || (!yScalar && len(y) < n) || len(y) == 0 {
		return 0
	}
	code := int(op)
	if rev {
		code = 3
	}
	binOpAVX(&o[0], &x[0], &y[0], n, code, yScalar)
	return n
}

// rowOpAVX sets o[i·n+j] = x[i·n+j] op r[j] for i < rows, j < n, n a
// multiple of 8; op is a binOp, or 3 for r − x (AVX2; see kernels_amd64.s).
//
//go:noescape
func rowOpAVX(o, x, r *float32, rows, n, op int)

// rowOpVector runs rowOpAVX over all of o when the row length allows it
// and reports whether it did.
func rowOpVector(o, x, r []float32, op binOp, rev bool) bool {
	n := len(r)
	if !hasAVX2FMA || n == 0 || n%8 != 0 || len(o)%n != 0 || len(x) < len(o) {
		return false
	}
	code := int(op)
	if rev {
		code = 3
	}
	rowOpAVX(&o[0], &x[0], &r[0], len(o)/n, n, code)
	return true
}

// signAVX sets dst[i] to the sign of src[i] (−1, 0 or 1; 0 for NaN) for
// i < n, n a multiple of 8 (AVX2 required; see kernels_amd64.s).
//
//go:noescape
func signAVX(dst, src *float32, n int)

// signVector computes the leading multiple of 8 of len(src) signs with
// signAVX and returns how many it did (0 without AVX2).
func signVector(dst, src []float32) int {
	n := len(src) &^ 7
	if !hasAVX2FMA || n == 0 || len(dst) < n {
		return 0
	}
	signAVX(&dst[0], &src[0], n)
	return n
}

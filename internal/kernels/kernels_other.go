//go:build !amd64

package kernels

// hasAVX2FMA is false: no vector kernels on this architecture.
var hasAVX2FMA = false

// matmulVector does nothing on this architecture.
func matmulVector(o, a, b []float32, m, k, n, sai, sap int) int { return 0 }

// expLogisticVector does nothing on this architecture.
func expLogisticVector(dst, src []float32, logistic bool) int { return 0 }

// binOpVector does nothing on this architecture.
func binOpVector(o, x, y []float32, op binOp, yScalar, rev bool) int { return 0 }

// signVector does nothing on this architecture.
func signVector(dst, src []float32) int { return 0 }

// rowOpVector does nothing on this architecture.
func rowOpVector(o, x, r []float32, op binOp, rev bool) bool { return false }

// matmulLevel is the matrix-product kernel in use: the scalar loops only.
var matmulLevel = 0

// matmulLevelBlock6 names the AVX2 level on amd64 (unused here).
const matmulLevelBlock6 = 1

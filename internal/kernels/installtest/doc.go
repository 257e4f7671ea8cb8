// Package installtest holds only tests: that importing gosde's solver and
// layer packages leaves GoMLX's pure-Go backend unchanged, and that
// backend.New installs gosde's kernels (as GOSDE_FAST_KERNELS allows).
package installtest

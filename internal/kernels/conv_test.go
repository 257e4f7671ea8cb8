package kernels

import (
	"fmt"
	"math"
	"os"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// convRef is the stride-1 convolution of x (n, h, w, c) with k (kh, kw, c,
// o), paddings pads, in float64 loops: the value and the sum of the absolute
// products (for the rounding bound) per output element.
func convRef(x, k []float32, n, h, w, c, kh, kw, o int, pads [2][2]int) (val, scale []float64, ho, wo int) {
	ho, wo = h+pads[0][0]+pads[0][1]-kh+1, w+pads[1][0]+pads[1][1]-kw+1
	val, scale = make([]float64, n*ho*wo*o), make([]float64, n*ho*wo*o)
	for b := range n {
		for i := range ho {
			for j := range wo {
				for q := range o {
					var s, a float64
					for di := range kh {
						for dj := range kw {
							ix, jx := i+di-pads[0][0], j+dj-pads[1][0]
							if ix < 0 || ix >= h || jx < 0 || jx >= w {
								continue
							}
							for ci := range c {
								p := float64(x[((b*h+ix)*w+jx)*c+ci]) * float64(k[((di*kw+dj)*c+ci)*o+q])
								s += p
								a += math.Abs(p)
							}
						}
					}
					idx := ((b*ho+i)*wo+j)*o + q
					val[idx], scale[idx] = s, a
				}
			}
		}
	}
	return val, scale, ho, wo
}

// TestConv32 checks the ConvGeneral kernel against float64 loops: the
// forward layout (with and without padding, output widths that are and are
// not multiples of the six-row blocks, one image and many, sizes large
// enough to run over several CPUs) and the kernel-gradient layout, whose
// result must be Σ patchᵀ·dy.
func TestConv32(t *testing.T) {
	be := mustSimplego(t)
	if !Current().Conv {
		t.Fatal("ConvGeneral kernel not installed (layout self-check failed, or GOSDE_FAST_KERNELS=-conv)")
	}
	if os.Getenv(EnvVar) == "" {
		// The test's convolutions run the kernel, not simplego's loops.
		saved := convFallback
		defer func() { convFallback = saved }()
		convFallback = func(*sgBackend, *sgNode, []*sgBuffer, []bool) (*sgBuffer, error) {
			t.Fatal("a convolution of the kernel's layouts went to simplego")
			return nil, nil
		}
	}
	val := func(n, seed int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(math.Sin(float64(i*7+seed)) * 2)
		}
		return v
	}
	cases := []struct {
		n, h, w, c, kh, kw, o int
		pads                  [2][2]int
	}{
		{2, 6, 6, 4, 3, 3, 5, [2][2]int{{1, 1}, {1, 1}}},
		{1, 5, 7, 3, 3, 2, 4, [2][2]int{{1, 2}, {0, 1}}},
		{3, 13, 13, 8, 2, 2, 6, [2][2]int{}},
		{2, 4, 4, 2, 3, 3, 3, [2][2]int{{2, 2}, {2, 2}}}, // windows entirely in the padding
		{1, 1, 1, 1, 1, 1, 1, [2][2]int{}},
		{16, 6, 6, 64, 3, 3, 64, [2][2]int{{1, 1}, {1, 1}}}, // the ODE-Net block; over 2 CPUs
		{4, 8, 9, 16, 3, 3, 24, [2][2]int{{0, 0}, {1, 1}}},
	}
	for _, cs := range cases {
		name := fmt.Sprintf("%+v", cs)
		x, k := val(cs.n*cs.h*cs.w*cs.c, 1), val(cs.kh*cs.kw*cs.c*cs.o, 2)
		want, scale, ho, wo := convRef(x, k, cs.n, cs.h, cs.w, cs.c, cs.kh, cs.kw, cs.o, cs.pads)
		dy := val(cs.n*ho*wo*cs.o, 3)
		pads := [][2]int{cs.pads[0], cs.pads[1]}
		exec := graph.MustNewExec(be, func(x, k, dy *graph.Node) []*graph.Node {
			return []*graph.Node{
				graph.ConvGeneral(x, k, ConvImagesAxes, []int{1, 1}, pads, nil, nil, 1, 1),
				graph.ConvGeneral(x, dy, ConvKernelGradAxes, []int{1, 1}, pads, nil, nil, 1, 1),
			}
		})
		inputs := []any{tensors.FromFlatDataAndDimensions(x, cs.n, cs.h, cs.w, cs.c), tensors.FromFlatDataAndDimensions(k, cs.kh, cs.kw, cs.c, cs.o),
			tensors.FromFlatDataAndDimensions(dy, cs.n, ho, wo, cs.o)}
		outs := exec.MustExec(inputs...)
		// Run again: the results must be the same bits (the kernel gradient
		// of the larger cases is summed over several goroutines).
		again := exec.MustExec(inputs...)
		for j := range outs {
			if a, b := tensors.MustCopyFlatData[float32](outs[j]), tensors.MustCopyFlatData[float32](again[j]); !slices.Equal(a, b) {
				t.Fatalf("%s: output %d differs between two runs", name, j)
			}
		}
		got := tensors.MustCopyFlatData[float32](outs[0])
		if len(got) != len(want) {
			t.Fatalf("%s: forward shape %s, want (%d, %d, %d, %d)", name, outs[0].Shape(), cs.n, ho, wo, cs.o)
		}
		for i := range want {
			if d := math.Abs(float64(got[i]) - want[i]); d > 1e-6*scale[i]+1e-30 {
				t.Fatalf("%s: forward [%d] = %g, want %g", name, i, got[i], want[i])
			}
		}
		// Kernel gradient: dw[di, dj, ci, q] = Σ x[b, i+di−pt, j+dj−pl, ci]·dy[b, i, j, q].
		gw := tensors.MustCopyFlatData[float32](outs[1])
		if len(gw) != len(k) {
			t.Fatalf("%s: kernel-gradient shape %s", name, outs[1].Shape())
		}
		for di := range cs.kh {
			for dj := range cs.kw {
				for ci := range cs.c {
					for q := range cs.o {
						var s, a float64
						for b := range cs.n {
							for i := range ho {
								for j := range wo {
									ix, jx := i+di-cs.pads[0][0], j+dj-cs.pads[1][0]
									if ix < 0 || ix >= cs.h || jx < 0 || jx >= cs.w {
										continue
									}
									p := float64(x[((b*cs.h+ix)*cs.w+jx)*cs.c+ci]) * float64(dy[((b*ho+i)*wo+j)*cs.o+q])
									s += p
									a += math.Abs(p)
								}
							}
						}
						idx := ((di*cs.kw+dj)*cs.c+ci)*cs.o + q
						if d := math.Abs(float64(gw[idx]) - s); d > 1e-6*a+1e-30 {
							t.Fatalf("%s: kernel gradient [%d,%d,%d,%d] = %g, want %g", name, di, dj, ci, q, gw[idx], s)
						}
					}
				}
			}
		}
	}
	// A stride-2 convolution is not the kernel's: simplego computes it.
	convFallback = sgExecConvGeneral
	x, k := val(1*5*5*2, 4), val(3*3*2*3, 5)
	y := graph.MustExecOnce(be, func(x, k *graph.Node) *graph.Node {
		return graph.ConvGeneral(x, k, ConvImagesAxes, []int{2, 2}, nil, nil, nil, 1, 1)
	}, tensors.FromFlatDataAndDimensions(x, 1, 5, 5, 2), tensors.FromFlatDataAndDimensions(k, 3, 3, 2, 3))
	full, _, _, _ := convRef(x, k, 1, 5, 5, 2, 3, 3, 3, [2][2]int{})
	got := tensors.MustCopyFlatData[float32](y)
	for i := range 2 {
		for j := range 2 {
			for q := range 3 {
				if d := math.Abs(float64(got[(i*2+j)*3+q]) - full[((2*i)*3+2*j)*3+q]); d > 1e-5 {
					t.Fatalf("stride 2 [%d,%d,%d] = %g, want %g", i, j, q, got[(i*2+j)*3+q], full[((2*i)*3+2*j)*3+q])
				}
			}
		}
	}
}

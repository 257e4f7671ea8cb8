package installtest_test

import (
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gosde/gosde/internal/kernels"
	"github.com/gosde/gosde/pkg/backend"

	// The solver (and through it pkg/nn): importing them must install nothing.
	_ "github.com/gosde/gosde/pkg/diffeq"
	_ "github.com/gosde/gosde/pkg/nn"
)

// tanhPoints are float32 values on a grid of [−3, 3] with step 1e-5.
func tanhPoints() []float32 {
	xs := make([]float32, 0, 600001)
	for i := -300000; i <= 300000; i++ {
		xs = append(xs, float32(i)/100000)
	}
	return xs
}

// tanhOn runs a float32 Tanh of xs on b and counts the values that differ
// from float32(math.Tanh(x)) (what simplego's own kernel computes) and the
// largest difference in units in the last place.
func tanhOn(t *testing.T, b backends.Backend, xs []float32) (differ int, maxULP float64) {
	t.Helper()
	out := graph.MustExecOnce(b, graph.Tanh, tensors.FromFlatDataAndDimensions(xs, len(xs)))
	got := tensors.MustCopyFlatData[float32](out)
	for i, x := range xs {
		want := float32(math.Tanh(float64(x)))
		if got[i] != want {
			differ++
			ulp := math.Abs(float64(math.Nextafter32(want, float32(math.Inf(1)))) - float64(want))
			maxULP = max(maxULP, math.Abs(float64(got[i]-want))/ulp)
		}
	}
	return differ, maxULP
}

// TestImportThenNew checks, in this order, that after importing pkg/diffeq
// and pkg/nn no kernel is in simplego's table and a float32 Tanh on a plain
// simplego backend is simplego's own (bit for bit float32(math.Tanh)); and
// that backend.New then installs every kernel GOSDE_FAST_KERNELS leaves on,
// after which the same Tanh runs gosde's kernel (within one ulp, not bit for
// bit everywhere).
func TestImportThenNew(t *testing.T) {
	for part, ops := range kernels.PartOps {
		for _, op := range ops {
			if kernels.Active(op) {
				t.Fatalf("importing pkg/diffeq and pkg/nn installed a kernel for %s (part %q)", op, part)
			}
		}
	}
	if s := kernels.Current(); s.Kernels || backend.FastKernels() || backend.FastConv() || backend.FastBroadcast() || backend.FastReduce() {
		t.Fatalf("kernels reported installed before backend.New: %+v", s)
	}
	plain, err := simplego.New("")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Finalize()
	xs := tanhPoints()
	if n, _ := tanhOn(t, plain, xs); n != 0 {
		t.Fatalf("before backend.New, %d of %d float32 Tanh values differ from simplego's float32(math.Tanh)", n, len(xs))
	}

	b, err := backend.NewWithConfig(backend.Embedded)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	s := kernels.Current()
	if len(s.Failed) != 0 {
		t.Fatalf("layout checks failed: %v", s.Failed)
	}
	for part, ops := range kernels.PartOps {
		for _, op := range ops {
			if kernels.Active(op) != kernels.Enabled(part) {
				t.Errorf("after backend.New: %s (part %q) in simplego's table: %v, want %v", op, part, kernels.Active(op), kernels.Enabled(part))
			}
		}
	}
	if backend.FastConv() != kernels.Enabled("conv") || backend.FastReduce() != kernels.Enabled("reduce") ||
		backend.FastBroadcast() != kernels.Enabled("broadcast") {
		t.Errorf("after backend.New: FastConv %v, FastReduce %v, FastBroadcast %v; %s=%q",
			backend.FastConv(), backend.FastReduce(), backend.FastBroadcast(), kernels.EnvVar, os.Getenv(kernels.EnvVar))
	}
	// The kernels serve every simplego backend, the plain one included.
	for name, be := range map[string]backends.Backend{"backend.New": b, "plain simplego": plain} {
		n, ulps := tanhOn(t, be, xs)
		t.Logf("%s: %d of %d float32 Tanh values differ from float32(math.Tanh), by at most %g ulp", name, n, len(xs), ulps)
		if ulps > 1 {
			t.Errorf("%s: Tanh off by %g ulp", name, ulps)
		}
		if kernels.Enabled("elementwise") && n == 0 {
			t.Errorf("%s: Tanh is bit for bit simplego's on all %d values: gosde's kernel did not run", name, len(xs))
		}
		if !kernels.Enabled("elementwise") && n != 0 {
			t.Errorf("%s: Tanh differs from simplego's on %d values with the kernel switched off", name, n)
		}
	}
}

// TestEnvVarSelects runs TestImportThenNew in child processes with
// GOSDE_FAST_KERNELS set to "0" and to a list of parts: they must pass
// (nothing, or only the parts left on, installed) and print nothing on
// stderr about layouts.
func TestEnvVarSelects(t *testing.T) {
	if os.Getenv("GOSDE_INSTALLTEST_CHILD") != "" {
		t.Skip("child process")
	}
	for _, v := range []string{"0", "-elementwise,-dot,-conv"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestImportThenNew$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), kernels.EnvVar+"="+v, "GOSDE_INSTALLTEST_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestImportThenNew") || strings.Contains(string(out), "layout check") {
			t.Errorf("%s=%q: %v\n%s", kernels.EnvVar, v, err, out)
		}
	}
}

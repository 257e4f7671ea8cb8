package backend

import (
	"os"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gosde/gosde/internal/kernels"
)

// TestNewInstallsKernels checks that creating the embedded backend with
// NewWithConfig installs the fast kernels into simplego's table, as
// FastKernelsEnv allows, and that FastKernels, FastBroadcast, FastReduce and
// FastConv report it.
func TestNewInstallsKernels(t *testing.T) {
	b, err := NewWithConfig(Embedded)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	s := kernels.Current()
	if len(s.Failed) != 0 {
		t.Fatalf("layout checks failed on the pinned GoMLX version: %v", s.Failed)
	}
	if want := strings.TrimSpace(os.Getenv(FastKernelsEnv)) != "0"; FastKernels() != want {
		t.Errorf("FastKernels() = %v with %s=%q, want %v", FastKernels(), FastKernelsEnv, os.Getenv(FastKernelsEnv), want)
	}
	on := kernels.Enabled // false for every part when FastKernelsEnv is "0"
	for _, c := range []struct {
		part string
		flag bool
		op   backends.OpType
	}{{"broadcast", FastBroadcast(), backends.OpTypeAdd}, {"reduce", FastReduce(), backends.OpTypeReduceSum},
		{"conv", FastConv(), backends.OpTypeConvGeneral}, {"elementwise", s.Elementwise, backends.OpTypeTanh},
		{"dot", s.Dot, backends.OpTypeDotGeneral}} {
		if c.flag != on(c.part) || kernels.Active(c.op) != on(c.part) {
			t.Errorf("part %q: reported %v, %s in simplego's table %v; want %v", c.part, c.flag, c.op, kernels.Active(c.op), on(c.part))
		}
	}
}

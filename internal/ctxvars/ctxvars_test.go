package ctxvars

import (
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// TestSnapshotRestore round-trips two variables into a fresh context and
// checks that corrupt data (short bytes, a different shape) is refused with
// the variable named and nothing changed.
func TestSnapshotRestore(t *testing.T) {
	src := context.New()
	src.In("enc").VariableWithValue("w", [][]float32{{1, 2, 3}, {4, 5, 6}})
	src.VariableWithValue("step", int64(7)).SetTrainable(false)
	vars, err := Snapshot(src)
	if err != nil || len(vars) != 2 {
		t.Fatalf("Snapshot: %d vars, %v", len(vars), err)
	}
	dst := context.New()
	if err := Restore(dst, vars); err != nil {
		t.Fatal(err)
	}
	w := dst.GetVariableByScopeAndName("/enc", "w")
	step := dst.GetVariableByScopeAndName("/", "step")
	if w == nil || step == nil {
		t.Fatalf("restored variables missing: w %v, step %v", w, step)
	}
	if got := tensors.MustCopyFlatData[float32](w.MustValue()); !slices.Equal(got, []float32{1, 2, 3, 4, 5, 6}) || !w.Trainable {
		t.Fatalf("w = %v (trainable %v)", got, w.Trainable)
	}
	if got := tensors.MustCopyFlatData[int64](step.MustValue()); got[0] != 7 || step.Trainable {
		t.Fatalf("step = %v (trainable %v)", got, step.Trainable)
	}

	short := slices.Clone(vars)
	for i := range short {
		if short[i].Name == "w" {
			short[i].Data = short[i].Data[:8]
		}
	}
	if err := Restore(dst, short); err == nil || !strings.Contains(err.Error(), "/enc/w") {
		t.Fatalf("short data: %v", err)
	}
	reshaped := slices.Clone(vars)
	for i := range reshaped {
		if reshaped[i].Name == "w" {
			reshaped[i].Dims = []int{3, 2}
		}
		if reshaped[i].Name == "step" {
			reshaped[i].Data = []byte{9, 0, 0, 0, 0, 0, 0, 0}
		}
	}
	if err := Restore(dst, reshaped); err == nil || !strings.Contains(err.Error(), "shape") {
		t.Fatalf("different shape: %v", err)
	}
	if got := tensors.MustCopyFlatData[int64](step.MustValue()); got[0] != 7 {
		t.Fatalf("a refused Restore changed step to %d", got[0])
	}
}

// TestVarCheck refuses an unknown dtype, a negative dimension and bytes
// that do not fill the shape, naming the variable; Restore refuses them
// before touching the context.
func TestVarCheck(t *testing.T) {
	good := Var{Scope: "/a", Name: "w", DType: int(dtypes.Float32), Dims: []int{2, 3}, Data: make([]byte, 24)}
	if err := good.Check(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		v    Var
		want string
	}{
		{Var{Scope: "/a", Name: "w", DType: 200, Dims: []int{1}, Data: make([]byte, 4)}, "dtype 200"},
		{Var{Scope: "/a", Name: "w", DType: 0, Data: nil}, "dtype 0"},
		{Var{Scope: "/a", Name: "w", DType: int(dtypes.Float64), Dims: []int{-1}}, "negative dimension"},
		{Var{Scope: "/a", Name: "w", DType: int(dtypes.Float64), Dims: []int{3}, Data: make([]byte, 16)}, "16 bytes"},
		{Var{Scope: "/a", Name: "w", DType: int(dtypes.Float64), Dims: []int{1 << 40, 1 << 30}}, "overflow"},
	} {
		if err := c.v.Check(); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "/a/w") {
			t.Errorf("%+v: %v, want an error naming /a/w and %q", c.v, err, c.want)
		}
		ctx := context.New()
		if err := Restore(ctx, []Var{good, c.v}); err == nil {
			t.Errorf("Restore accepted %+v", c.v)
		}
		if ctx.GetVariableByScopeAndName("/a", "w") != nil {
			t.Errorf("a refused Restore created a variable")
		}
	}
}

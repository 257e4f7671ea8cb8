package kernels

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
)

func TestParseSettings(t *testing.T) {
	for _, c := range []struct {
		v        string
		off      bool
		disabled []string
		unknown  []string
	}{
		{"", false, nil, nil},
		{"1", false, nil, nil},
		{"0", true, nil, nil},
		{" 0 ", true, nil, nil},
		{"-dot, -avx512", false, []string{"avx512", "dot"}, nil},
		{"-fold,,-conv,-reduce", false, []string{"conv", "fold", "reduce"}, nil},
		{"-foo,dot,-dot,0", false, []string{"dot"}, []string{"-foo", "dot", "0"}},
	} {
		s := parseSettings(c.v)
		var disabled []string
		for _, p := range Parts {
			if s.disabled[p] {
				disabled = append(disabled, p)
			}
		}
		for p := range s.disabled {
			if !strings.Contains(strings.Join(Parts, " "), p) {
				t.Errorf("parseSettings(%q) disabled unknown part %q", c.v, p)
			}
		}
		if s.off != c.off || len(disabled) != len(c.disabled) || !reflect.DeepEqual(s.unknown, c.unknown) {
			t.Errorf("parseSettings(%q) = off %v, disabled %v, unknown %q; want off %v, disabled %v, unknown %q",
				c.v, s.off, disabled, s.unknown, c.off, c.disabled, c.unknown)
			continue
		}
		for _, p := range c.disabled {
			if !s.disabled[p] {
				t.Errorf("parseSettings(%q): part %q not disabled", c.v, p)
			}
		}
	}
}

// allOff returns settings that leave every part out except keep.
func allOff(keep ...string) settings {
	s := settings{disabled: map[string]bool{}}
	for _, p := range Parts {
		s.disabled[p] = true
	}
	for _, p := range keep {
		delete(s.disabled, p)
	}
	return s
}

// TestInstallReportsFailedChecks runs install with layout checks that fail
// (and every kernel whose check passes switched off, so that nothing is
// installed): one line on the writer names the checks and says that
// simplego's stock kernels run.
func TestInstallReportsFailedChecks(t *testing.T) {
	calls := 0
	fail := func() bool { calls++; return false }
	pass := func() bool { calls++; return true }

	// The buffer check gates everything: no other check runs.
	var w bytes.Buffer
	s := install(settings{disabled: map[string]bool{}}, layoutChecks{buffer: fail, slice: pass, conv: pass, dot: pass}, &w)
	if s.Kernels || s.Elementwise || s.Broadcast || s.Dot || !reflect.DeepEqual(s.Failed, []string{"buffer"}) || calls != 1 {
		t.Fatalf("buffer check failing: status %+v after %d checks, want only Failed [buffer] after 1", s, calls)
	}
	checkOneLine(t, w.String(), "(buffer;", "stock kernels", "v0.26.0")

	// Node-data checks: each failure is named, in one line.
	w.Reset()
	calls = 0
	s = install(allOff("slice", "conv", "dot"), layoutChecks{buffer: pass, slice: fail, conv: fail, dot: fail}, &w)
	if !s.Kernels || s.Slice || s.Conv || s.Dot || !reflect.DeepEqual(s.Failed, []string{"slice", "conv", "dot"}) || calls != 4 {
		t.Fatalf("node checks failing: status %+v after %d checks", s, calls)
	}
	checkOneLine(t, w.String(), "(slice, conv, dot;", "Slice, ConvGeneral, DotGeneral run on simplego's stock kernel")

	// One failure: its op.
	w.Reset()
	s = install(allOff("dot"), layoutChecks{buffer: pass, slice: fail, conv: fail, dot: fail}, &w)
	if !reflect.DeepEqual(s.Failed, []string{"dot"}) || s.Dot {
		t.Fatalf("dot check failing: status %+v", s)
	}
	checkOneLine(t, w.String(), "(dot;", "DotGeneral runs on simplego's stock kernel")

	// Parts switched off are not checked, and nothing is said.
	w.Reset()
	calls = 0
	s = install(allOff(), layoutChecks{buffer: pass, slice: fail, conv: fail, dot: fail}, &w)
	if !s.Kernels || len(s.Failed) != 0 || calls != 1 || w.Len() != 0 {
		t.Fatalf("all parts off: status %+v after %d checks, output %q", s, calls, w.String())
	}

	// "0": no check at all; unknown entries: one line naming them.
	w.Reset()
	calls = 0
	set := parseSettings("0")
	set.unknown = []string{"-fats"}
	s = install(set, layoutChecks{buffer: fail, slice: fail, conv: fail, dot: fail}, &w)
	if s.Kernels || len(s.Failed) != 0 || calls != 0 {
		t.Fatalf("GOSDE_FAST_KERNELS=0: status %+v after %d checks", s, calls)
	}
	checkOneLine(t, w.String(), EnvVar, `"-fats"`, "elementwise")
}

func checkOneLine(t *testing.T, out string, want ...string) {
	t.Helper()
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") || !strings.HasPrefix(out, "gosde: ") {
		t.Fatalf("want one line starting with \"gosde: \", got %q", out)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Fatalf("message %q does not contain %q", out, w)
		}
	}
}

// TestInstall checks that Install, on the pinned GoMLX version, passes every
// layout check and puts each kernel that GOSDE_FAST_KERNELS leaves on into
// simplego's table (and that a second call changes nothing).
func TestInstall(t *testing.T) {
	s := Install()
	if len(s.Failed) != 0 {
		t.Fatalf("layout checks failed on the pinned GoMLX version: %v", s.Failed)
	}
	if envSettings().off {
		if s.Kernels {
			t.Fatalf("%s=0 but Install installed kernels: %+v", EnvVar, s)
		}
		return
	}
	parts := PartOps
	flags := map[string]bool{"elementwise": s.Elementwise, "broadcast": s.Broadcast, "where": s.Where, "slice": s.Slice,
		"transpose": s.Transpose, "reduce": s.Reduce, "conv": s.Conv, "dot": s.Dot}
	for part, ops := range parts {
		if flags[part] != Enabled(part) {
			t.Errorf("part %q: Status says %v, %s leaves it on: %v", part, flags[part], EnvVar, Enabled(part))
		}
		for _, op := range ops {
			if Active(op) != Enabled(part) {
				t.Errorf("%s (part %q): Active %v, want %v", op, part, Active(op), Enabled(part))
			}
		}
	}
	if Active(backends.OpTypeCos) || Active(backends.OpTypeInvalid) || Active(backends.OpTypeLast) {
		t.Error("Active reports a kernel for Cos, Invalid or OpTypeLast")
	}
	if again := Install(); !reflect.DeepEqual(again, s) {
		t.Errorf("second Install returned %+v, first %+v", again, s)
	}
}

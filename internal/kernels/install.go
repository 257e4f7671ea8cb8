package kernels

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gomlx/gomlx/backends"
)

// EnvVar is the environment variable that switches kernels off: "0" for
// all of them, or a comma-separated list of parts to leave out, each with a
// leading minus ("-dot,-avx512"). It is read once, when first needed (by
// Install or Enabled).
const EnvVar = "GOSDE_FAST_KERNELS"

// Parts are the names EnvVar accepts after a minus sign: "fold" (the
// backend wrapper's Where folding), "elementwise" (Tanh, Logistic, Exp),
// "broadcast" (Add/Mul/Sub with broadcast or same-shape operands), "where"
// (Where, Sign, Bool→Float32 and BroadcastInDim), "reduce" (ReduceSum),
// "slice" (Slice), "dot" (DotGeneral), "conv" (ConvGeneral), "transpose"
// (Transpose), "avx" (the AVX2 and AVX-512 versions of the kernels) and
// "avx512" (the AVX-512 matrix product only).
var Parts = []string{"fold", "elementwise", "broadcast", "where", "reduce", "slice", "dot", "conv", "transpose", "avx", "avx512"}

// pinnedGoMLX is the GoMLX version whose unexported layouts the kernels
// mirror.
const pinnedGoMLX = "v0.26.0"

// settings is a parsed EnvVar value.
type settings struct {
	off      bool            // "0": nothing at all
	disabled map[string]bool // parts listed with a minus
	unknown  []string        // list entries that are not "-" + a part
}

// parseSettings parses an EnvVar value. Empty entries and "1" mean nothing;
// anything else that is not "-" followed by one of Parts is unknown.
func parseSettings(v string) settings {
	s := settings{disabled: map[string]bool{}}
	if strings.TrimSpace(v) == "0" {
		s.off = true
		return s
	}
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		if p == "" || p == "1" {
			continue
		}
		if name, ok := strings.CutPrefix(p, "-"); ok && slices.Contains(Parts, name) {
			s.disabled[name] = true
			continue
		}
		s.unknown = append(s.unknown, p)
	}
	return s
}

// envSettings reads EnvVar once.
var envSettings = sync.OnceValue(func() settings { return parseSettings(os.Getenv(EnvVar)) })

// Enabled reports whether EnvVar leaves part (one of Parts) on: false when
// EnvVar is "0" or lists "-"+part.
func Enabled(part string) bool {
	s := envSettings()
	return !s.off && !s.disabled[part]
}

// Status says which kernels Install put into simplego's executor table.
type Status struct {
	// Kernels is true when Install ran, EnvVar was not "0" and the buffer
	// layout check passed: the kernels of the fields below that are true
	// are installed.
	Kernels bool
	// Elementwise: Tanh, Logistic, Exp. Broadcast: Add, Mul, Sub. Where:
	// Where, Sign, Bool→Float32, BroadcastInDim. The others: the op of
	// that name.
	Elementwise, Broadcast, Where, Slice, Transpose, Reduce, Conv, Dot bool
	// Failed names the layout checks that failed ("buffer", "slice",
	// "conv", "dot"); their kernels run on simplego's own.
	Failed []string
}

// layoutChecks are the self-checks of the mirrored simplego layouts.
type layoutChecks struct {
	buffer, slice, conv, dot func() bool
}

// simplegoChecks are the real checks, on fresh simplego backends.
var simplegoChecks = layoutChecks{
	buffer: simplegoLayoutOK, slice: simplegoSliceLayoutOK,
	conv: simplegoConvLayoutOK, dot: simplegoDotLayoutOK,
}

var (
	installOnce sync.Once
	installed   atomic.Pointer[Status]
)

// Install puts the kernels EnvVar leaves on and whose layout checks pass
// into simplego's executor table, for every simplego backend of the
// process; it does the work once, later calls return the same Status. A
// failed layout check is reported once, in one line on stderr. Install
// writes simplego's global table without locking: call it before graphs run
// on simplego (backend.New does, before it creates the backend).
func Install() Status {
	installOnce.Do(func() {
		s := install(envSettings(), simplegoChecks, os.Stderr)
		installed.Store(&s)
	})
	return Current()
}

// Current returns what Install did: the zero Status (nothing installed)
// before Install has run.
func Current() Status {
	s := installed.Load()
	if s == nil {
		return Status{}
	}
	c := *s
	c.Failed = slices.Clone(s.Failed)
	return c
}

// PartOps lists, for each part of GOSDE_FAST_KERNELS, the simplego
// operations whose executors that part replaces.
var PartOps = map[string][]backends.OpType{
	"elementwise": {backends.OpTypeTanh, backends.OpTypeLogistic, backends.OpTypeExp},
	"broadcast":   {backends.OpTypeAdd, backends.OpTypeMul, backends.OpTypeSub},
	"where":       {backends.OpTypeWhere, backends.OpTypeSign, backends.OpTypeConvertDType, backends.OpTypeBroadcastInDim},
	"slice":       {backends.OpTypeSlice},
	"transpose":   {backends.OpTypeTranspose},
	"reduce":      {backends.OpTypeReduceSum},
	"conv":        {backends.OpTypeConvGeneral},
	"dot":         {backends.OpTypeDotGeneral},
}

// Active reports whether simplego's executor table holds an executor at the
// "user override" priority (gosde's kernels) for op.
func Active(op backends.OpType) bool {
	return op >= 0 && op < backends.OpTypeLast && sgNodeExecutorsPriority[op] >= sgPriorityUser
}

// install installs what set allows and checks pass, and writes at most one
// line about unknown EnvVar entries and one about failed checks to w.
func install(set settings, checks layoutChecks, w io.Writer) Status {
	if len(set.unknown) > 0 {
		fmt.Fprintf(w, "gosde: %s: ignoring %s (expected 0, or a comma-separated list of -part with part one of %s)\n",
			EnvVar, strings.Join(quoted(set.unknown), ", "), strings.Join(Parts, ", "))
	}
	var s Status
	if set.off {
		return s
	}
	if set.disabled["avx"] {
		hasAVX2FMA = false
	}
	if set.disabled["avx512"] && matmulLevel > matmulLevelBlock6 {
		matmulLevel = matmulLevelBlock6
	}
	if !checks.buffer() {
		s.Failed = []string{"buffer"}
		fmt.Fprintf(w, "gosde: GoMLX simplego layout check failed (buffer; gosde's kernels mirror GoMLX %s, this program links %s): the pure-Go backend runs on simplego's stock kernels\n",
			pinnedGoMLX, linkedGoMLX())
		return s
	}
	s.Kernels = true
	on := func(part string) bool { return !set.disabled[part] }
	if on("elementwise") {
		sgSetNodeExecutor(backends.OpTypeTanh, sgPriorityUser, float32Unary(tanh32Slice, sgExecTanh))
		sgSetNodeExecutor(backends.OpTypeLogistic, sgPriorityUser, float32Unary(logistic32Slice, sgExecLogistic))
		sgSetNodeExecutor(backends.OpTypeExp, sgPriorityUser, float32Unary(exp32Slice, sgExecExp))
		s.Elementwise = true
	}
	if on("broadcast") {
		sgSetNodeExecutor(backends.OpTypeAdd, sgPriorityUser, float32RowBroadcast(opAdd, sgExecAdd))
		sgSetNodeExecutor(backends.OpTypeMul, sgPriorityUser, float32RowBroadcast(opMul, sgExecMul))
		sgSetNodeExecutor(backends.OpTypeSub, sgPriorityUser, float32RowBroadcast(opSub, sgExecSub))
		s.Broadcast = true
	}
	if on("where") {
		sgSetNodeExecutor(backends.OpTypeWhere, sgPriorityUser, execWhere32)
		sgSetNodeExecutor(backends.OpTypeSign, sgPriorityUser, float32Unary(sign32Slice, sgExecSign))
		sgSetNodeExecutor(backends.OpTypeConvertDType, sgPriorityUser, execBoolToFloat32)
		sgSetNodeExecutor(backends.OpTypeBroadcastInDim, sgPriorityUser, execBroadcast32)
		s.Where = true
	}
	if on("transpose") {
		sgSetNodeExecutor(backends.OpTypeTranspose, sgPriorityUser, execTransposeRuns)
		s.Transpose = true
	}
	if on("reduce") {
		sgSetNodeExecutor(backends.OpTypeReduceSum, sgPriorityUser, execReduceSum32)
		s.Reduce = true
	}
	// Kernels that read a node's data need its layout check too.
	var stock []string
	checked := func(part string, check func() bool, op backends.OpType, exec sgExecutor) bool {
		if !on(part) {
			return false
		}
		if !check() {
			s.Failed = append(s.Failed, part)
			stock = append(stock, op.String())
			return false
		}
		sgSetNodeExecutor(op, sgPriorityUser, exec)
		return true
	}
	s.Slice = checked("slice", checks.slice, backends.OpTypeSlice, execSliceRuns)
	s.Conv = checked("conv", checks.conv, backends.OpTypeConvGeneral, execConv32)
	s.Dot = checked("dot", checks.dot, backends.OpTypeDotGeneral, execDotGeneral32)
	if len(s.Failed) > 0 {
		verb := "run"
		if len(stock) == 1 {
			verb = "runs"
		}
		fmt.Fprintf(w, "gosde: GoMLX simplego layout check failed (%s; gosde's kernels mirror GoMLX %s, this program links %s): %s %s on simplego's stock kernel\n",
			strings.Join(s.Failed, ", "), pinnedGoMLX, linkedGoMLX(), strings.Join(stock, ", "), verb)
	}
	return s
}

// quoted returns the strings in double quotes.
func quoted(v []string) []string {
	q := make([]string, len(v))
	for i, s := range v {
		q[i] = fmt.Sprintf("%q", s)
	}
	return q
}

// linkedGoMLX returns the GoMLX module version in the program's build
// information, or "an unknown version".
func linkedGoMLX() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/gomlx/gomlx" {
				if d.Replace != nil {
					d = d.Replace
				}
				if d.Version == "" {
					return "a local replacement"
				}
				return d.Version
			}
		}
	}
	return "an unknown version"
}

package backend

import (
	"sync"

	"github.com/gomlx/gomlx/backends"
	"github.com/gosde/gosde/internal/kernels"
)

// Graph-level folding in the wrapper.
//
// nn.Linear (and any code that links nodes into autodiff with
// Where(false, …, 0)) builds a Where whose condition is a constant false
// scalar; simplego would still compute the unused branch (two full
// reductions per layer call in nn.Linear's case, 15% of an SDE solve's time
// in a profile). The wrapper remembers the scalar boolean constants it
// creates and folds such a Where into its chosen branch, so the other one is
// never executed (simplego skips nodes no output needs).

// boolConst is a scalar boolean constant made by a wrapped builder.
type boolConst struct {
	builder *wrappedBuilder
	value   bool
}

var (
	boolConstsMu sync.Mutex
	// boolConsts holds the scalar boolean constants of the builders not yet
	// compiled (Compile removes a builder's entries).
	boolConsts = map[backends.Op]boolConst{}
)

// maxBoolConsts bounds boolConsts (builders that are never compiled leave
// their entries); past it the map is cleared, which only loses the folding
// of later Where ops on earlier constants.
const maxBoolConsts = 4096

// Constant implements backends.Builder, remembering scalar booleans.
func (b *wrappedBuilder) Constant(flat any, dims ...int) (backends.Op, error) {
	op, err := b.Builder.Constant(flat, dims...)
	if v, ok := flat.([]bool); ok && kernels.Enabled("fold") && err == nil && len(v) == 1 && len(dims) == 0 {
		boolConstsMu.Lock()
		if len(boolConsts) >= maxBoolConsts {
			clear(boolConsts)
		}
		boolConsts[op] = boolConst{builder: b, value: v[0]}
		boolConstsMu.Unlock()
	}
	return op, err
}

// Compile implements backends.Builder, forgetting the builder's constants.
func (b *wrappedBuilder) Compile(outputs []backends.Op, shardings []*backends.ShardingSpec) (backends.Executable, error) {
	boolConstsMu.Lock()
	for op, c := range boolConsts {
		if c.builder == b {
			delete(boolConsts, op)
		}
	}
	boolConstsMu.Unlock()
	return b.Builder.Compile(outputs, shardings)
}

// Where implements backends.Builder: with a constant scalar condition
// (made by this wrapper) whose chosen branch already has the output's
// shape, it returns (an Identity of) that branch.
func (b *wrappedBuilder) Where(condition, onTrue, onFalse backends.Op) (backends.Op, error) {
	boolConstsMu.Lock()
	bc, known := boolConsts[condition]
	boolConstsMu.Unlock()
	if known && bc.builder == b {
		c := bc.value
		ts, err1 := b.OpShape(onTrue)
		fs, err2 := b.OpShape(onFalse)
		if err1 == nil && err2 == nil {
			out := ts // the output shape, as graph.Where defines it
			if out.IsScalar() {
				out = fs
			}
			chosen, cs := onFalse, fs
			if c {
				chosen, cs = onTrue, ts
			}
			if cs.Equal(out) {
				return b.Identity(chosen)
			}
		}
	}
	return b.Builder.Where(condition, onTrue, onFalse)
}

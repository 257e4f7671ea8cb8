package adjoint

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/diffeq"
)

// Node is a GoMLX graph node.
type Node = graph.Node

// Gradients holds the gradients of a scalar loss L with respect to the
// initial state and the vector field's weights, as returned by a backward
// (adjoint) pass.
type Gradients struct {
	// Z0 is dL/dz0, shaped like z0.
	Z0 *tensors.Tensor
	// Vars are the trainable variables differentiated, in context order.
	Vars []*context.Variable
	// Params[i] is dL/dVars[i], shaped like the variable (in the state's dtype).
	Params []*tensors.Tensor
	// NFE counts the evaluations of the (augmented) vector field in the
	// backward pass; each one is an evaluation of f plus its vector–Jacobian
	// product.
	NFE int
}

// usedTrainable is UsedTrainable.
func usedTrainable(ctx *context.Context, g *graph.Graph) []*context.Variable {
	return UsedTrainable(ctx, g)
}

// UsedTrainable returns the trainable variables of ctx that graph g uses, in
// ctx.IterVariables order (the order GoMLX optimizers expect): the
// variables to differentiate in a hand-built gradient graph.
func UsedTrainable(ctx *context.Context, g *graph.Graph) []*context.Variable {
	var out []*context.Variable
	for v := range ctx.IterVariables() {
		if v.Trainable && v.InUseByGraph(g) {
			out = append(out, v)
		}
	}
	return out
}

// paramNodes is ParamNodes.
func paramNodes(g *graph.Graph, vars []*context.Variable) []*Node { return ParamNodes(g, vars) }

// ParamNodes returns the value nodes of vars in graph g (what
// graph.Gradient differentiates with respect to).
func ParamNodes(g *graph.Graph, vars []*context.Variable) []*Node {
	out := make([]*Node, len(vars))
	for i, v := range vars {
		out[i] = v.ValueGraph(g)
	}
	return out
}

// discoverParams builds a probe graph that evaluates probe(ctx, t, z) once
// and returns the trainable variables it uses. If want is not nil, every
// variable of want must be used, and want is returned; otherwise all the used
// trainable variables are. what names the vector field in errors.
func discoverParams(b backends.Backend, ctx *context.Context, what string, probe func(ctx *context.Context, t, z *Node) []*Node,
	t float64, z *tensors.Tensor, want []*context.Variable) ([]*context.Variable, error) {
	e, err := context.NewExec(b, ctx, func(ctx *context.Context, t, z *Node) []*Node {
		return probe(ctx.Checked(false), t, z)
	})
	if err != nil {
		return nil, fmt.Errorf("adjoint: building the %s probe: %w", what, err)
	}
	defer e.Finalize()
	outs, g, err := e.ExecWithGraph(diffeq.ScalarTensor(z.DType(), t), z)
	if err != nil {
		return nil, fmt.Errorf("adjoint: evaluating the %s at t=%g: %w", what, t, err)
	}
	for i, o := range outs {
		if vals, err := diffeq.Float64s(o); err == nil {
			if err := diffeq.CheckFinite(fmt.Sprintf("%s output %d at t=%g", what, i, t), vals); err != nil {
				return nil, fmt.Errorf("adjoint: %w", err)
			}
		}
	}
	used := usedTrainable(ctx, g)
	if want == nil {
		return used, nil
	}
	inUse := map[*context.Variable]bool{}
	for _, v := range used {
		inUse[v] = true
	}
	for _, v := range want {
		if v == nil {
			return nil, fmt.Errorf("adjoint: Options.Params holds a nil variable")
		}
		if !v.InUseByGraph(g) {
			return nil, fmt.Errorf("adjoint: the %s does not depend on variable %q given in Options.Params (it uses %s)",
				what, v.ScopeAndName(), varNames(used))
		}
	}
	return want, nil
}

func varNames(vs []*context.Variable) string {
	if len(vs) == 0 {
		return "no trainable variables"
	}
	s := ""
	for i, v := range vs {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%q", v.ScopeAndName())
	}
	return s
}

// checkState checks a (batch, d) float state tensor named name.
func checkState(name string, z *tensors.Tensor) error {
	if z == nil {
		return fmt.Errorf("%s is nil", name)
	}
	if dt := z.DType(); dt != dtypes.Float32 && dt != dtypes.Float64 {
		return fmt.Errorf("%s must be Float32 or Float64, got %s", name, dt)
	}
	if z.Shape().Rank() != 2 {
		return fmt.Errorf("%s must be shaped (batch, d), got %s", name, z.Shape())
	}
	v, err := diffeq.Float64s(z)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return diffeq.CheckFinite(name, v)
}

// checkCotangents checks that dLdYs holds one (possibly nil) tensor per save
// time, each shaped like want and finite; it names the first bad time.
func checkCotangents(dLdYs []*tensors.Tensor, ts []float64, want shapes.Shape) error {
	if len(dLdYs) != len(ts) {
		return fmt.Errorf("adjoint: got %d loss gradients dL/dz for %d save times (pass nil for times the loss does not use)", len(dLdYs), len(ts))
	}
	for i, g := range dLdYs {
		if g == nil {
			continue
		}
		if !g.Shape().Equal(want) {
			return fmt.Errorf("adjoint: dL/dz at save time ts[%d]=%g has shape %s, want the state's shape %s", i, ts[i], g.Shape(), want)
		}
		v, err := diffeq.Float64s(g)
		if err != nil {
			return fmt.Errorf("adjoint: dL/dz at ts[%d]: %w", i, err)
		}
		for j, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return fmt.Errorf("adjoint: the loss gradient dL/dz is not finite (%g at flat index %d) at save time ts[%d]=%g", x, j, i, ts[i])
			}
		}
	}
	return nil
}

// vec is a flat float64 copy of a tensor.
func vec(t *tensors.Tensor) []float64 {
	v, err := diffeq.Float64s(t)
	if err != nil {
		panic(err)
	}
	return v
}

// addInto adds the values of t (if not nil) to dst.
func addInto(dst []float64, t *tensors.Tensor) {
	if t == nil {
		return
	}
	for i, x := range vec(t) {
		dst[i] += x
	}
}

// firstNonFinite returns the index of the first NaN or Inf of xs, or -1.
func firstNonFinite(xs []float64) int {
	for i, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return i
		}
	}
	return -1
}

// varSizes returns the element counts of vars.
func varSizes(vars []*context.Variable) (sizes []int, total int) {
	sizes = make([]int, len(vars))
	for i, v := range vars {
		sizes[i] = v.Shape().Size()
		total += sizes[i]
	}
	return
}

// splitParams turns the flat concatenation of parameter gradients into one
// tensor per variable.
func splitParams(flat []float64, vars []*context.Variable, dtype dtypes.DType) []*tensors.Tensor {
	out := make([]*tensors.Tensor, len(vars))
	off := 0
	for i, v := range vars {
		n := v.Shape().Size()
		out[i] = diffeq.FromFloat64s(dtype, flat[off:off+n], v.Shape().Dimensions...)
		off += n
	}
	return out
}

// grid returns the solver grid for save times ts: each interval i is split
// into parts[i] equal sub-intervals. save[i] is the grid index of ts[i].
func grid(ts []float64, parts []int) (g []float64, save []int) {
	g = []float64{ts[0]}
	save = []int{0}
	for i := 1; i < len(ts); i++ {
		h := (ts[i] - ts[i-1]) / float64(parts[i-1])
		for k := 1; k < parts[i-1]; k++ {
			g = append(g, ts[i-1]+float64(k)*h)
		}
		g = append(g, ts[i])
		save = append(save, len(g)-1)
	}
	return
}

package odenet

import (
	"fmt"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
)

// Momentum is stochastic gradient descent with (heavy-ball) momentum, as
// PyTorch's SGD and the reference implementation use it: b ← μ·b + g,
// w ← w − lr·b. GoMLX's SGD has no momentum. It implements
// optimizers.Interface; its buffers are non-trainable variables in the
// optimizer's scope, so checkpoints carry them.
type Momentum struct {
	LR, Mu float64
}

// usedVars returns the trainable variables in use by g (context order) and
// their values in g.
func usedVars(ctx *context.Context, g *graph.Graph) (vars []*context.Variable, values []*graph.Node) {
	for v := range ctx.IterVariables() {
		if v.Trainable && v.InUseByGraph(g) {
			vars = append(vars, v)
			values = append(values, v.ValueGraph(g))
		}
	}
	return vars, values
}

// UpdateGraph implements optimizers.Interface.
func (o Momentum) UpdateGraph(ctx *context.Context, g *graph.Graph, loss *graph.Node) {
	_, values := usedVars(ctx, g)
	if len(values) == 0 {
		return
	}
	o.UpdateGraphWithGradients(ctx, graph.Gradient(loss, values...), loss.DType())
}

// UpdateGraphWithGradients implements train.OptimizeWithGradients: grads
// are ordered as the trainable variables in use by their graph, in context
// order (as adjoint.Trainer supplies them).
func (o Momentum) UpdateGraphWithGradients(ctx *context.Context, grads []*graph.Node, lossDType dtypes.DType) {
	if len(grads) == 0 {
		return
	}
	g := grads[0].Graph()
	vars, values := usedVars(ctx, g)
	if len(vars) != len(grads) {
		panic(fmt.Errorf("odenet.Momentum: %d gradients for %d variables in use", len(grads), len(vars)))
	}
	optimizers.IncrementGlobalStepGraph(ctx, g, lossDType)
	mctx := ctx.In(optimizers.Scope).In("momentum").Checked(false).WithInitializer(initializers.Zero)
	for i, v := range vars {
		name := strings.NewReplacer("/", "_", ":", "_").Replace(v.ParameterName())
		buf := mctx.VariableWithShape(name, v.Shape())
		buf.Trainable = false
		b := graph.Add(graph.MulScalar(buf.ValueGraph(g), o.Mu), grads[i])
		buf.SetValueGraph(b)
		v.SetValueGraph(graph.Sub(values[i], graph.MulScalar(b, o.LR)))
	}
}

// Clear implements optimizers.Interface: it deletes the momentum buffers.
func (o Momentum) Clear(ctx *context.Context) error {
	return ctx.In(optimizers.Scope).In("momentum").DeleteVariablesInScope()
}

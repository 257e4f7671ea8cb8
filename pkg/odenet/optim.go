package odenet

import (
	"strings"

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

// UpdateGraph implements optimizers.Interface.
func (o Momentum) UpdateGraph(ctx *context.Context, g *graph.Graph, loss *graph.Node) {
	var vars []*context.Variable
	var values []*graph.Node
	for v := range ctx.IterVariables() {
		if v.Trainable && v.InUseByGraph(g) {
			vars = append(vars, v)
			values = append(values, v.ValueGraph(g))
		}
	}
	if len(vars) == 0 {
		return
	}
	grads := graph.Gradient(loss, values...)
	optimizers.IncrementGlobalStepGraph(ctx, g, loss.DType())
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

package diffeq

import (
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// DenseTerms is the number of dense-output terms of a Dopri5 step
// (Dopri5DenseStep, DenseWeights).
const DenseTerms = 5

// Dopri5DenseStep builds one Dormand–Prince 5(4) step from t by h (scalar
// nodes of z's dtype) given k1 = f(t, z), and returns the new state, the last
// stage k7 = f(t+h, zNext) (the next step's k1) and the step's five
// dense-output terms r1 … r5, each shaped like z: the state at t + θh is
// Σⱼ DenseWeights(θ)[j]·rⱼ (r1 = z, and at θ = 1 the sum is zNext). A step
// with h = 0 leaves z unchanged and its terms give z at every θ, so a fixed
// number of steps can carry a shorter plan padded with empty steps.
func Dopri5DenseStep(ctx *context.Context, f Func, t, h, z, k1 *Node) (zNext, k7 *Node, terms [DenseTerms]*Node) {
	ctx = ctx.Checked(false)
	hz := graph.BroadcastToShape(h, z.Shape())
	zNext, ks := dopri5Stages(ctx, f, t, h, hz, z, k1)
	r2 := graph.Sub(zNext, z)
	r3 := graph.Sub(graph.Mul(k1, hz), r2)
	r4 := graph.Sub(graph.Sub(r2, graph.Mul(ks[6], hz)), r3)
	return zNext, ks[6], [DenseTerms]*Node{z, r2, r3, r4, combine(hz, dopriD[:], ks)}
}

// DenseWeights returns the weights of the dense-output terms of
// Dopri5DenseStep at θ ∈ [0, 1] of a step.
func DenseWeights(theta float64) [DenseTerms]float64 { return denseWeights(theta) }

package diffeq

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/nn"
)

// dopriD are the coefficients of the last term of Dormand–Prince's
// fourth-order continuous extension (Hairer, Nørsett & Wanner, Solving ODEs
// I, II.6): r5 = h·Σ dᵢkᵢ.
var dopriD = [7]float64{
	-12715105075.0 / 11282082432.0, 0, 87487479700.0 / 32700410799.0, -10690763975.0 / 1880347072.0,
	701980252875.0 / 199316789632.0, -1453857185.0 / 822651844.0, 69997945.0 / 29380423.0,
}

// denseWeights returns the weights of the dense output at θ ∈ [0, 1] of a
// step: y(t+θh) = r1 + θ·r2 + θ(1−θ)·r3 + θ²(1−θ)·r4 + θ²(1−θ)²·r5 with
// r1 = y0, r2 = y1 − y0, r3 = h·f0 − r2, r4 = r2 − h·f1 − r3 and
// r5 = h·Σ dᵢkᵢ.
func denseWeights(theta float64) [5]float64 {
	u := 1 - theta
	return [5]float64{1, theta, theta * u, theta * theta * u, theta * theta * u * u}
}

// denseTerms returns r1 … r5 of a step from its start y0, end y1, the
// first and last stages f0, f1, the step h and r5 (host values).
func denseTerms(y0, y1, f0, f1, r5 []float64, h float64) [5][]float64 {
	n := len(y0)
	r2, r3, r4 := make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range n {
		r2[i] = y1[i] - y0[i]
		r3[i] = h*f0[i] - r2[i]
		r4[i] = r2[i] - h*f1[i] - r3[i]
	}
	return [5][]float64{y0, r2, r3, r4, r5}
}

// denseAt evaluates the dense output of terms at θ.
func denseAt(terms [5][]float64, theta float64) []float64 {
	w := denseWeights(theta)
	out := make([]float64, len(terms[0]))
	for j, r := range terms {
		for i, v := range r {
			out[i] += w[j] * v
		}
	}
	return out
}

// StepPlan places the save times of a solve on its accepted steps, so the
// solve can be rebuilt inside a graph with exactly those steps
// ([IntegratePlan]): this is how gradients are taken through an adaptive
// Dopri5 solve by backpropagation (adjoint.Direct), as torchdiffeq does, with
// the step sizes held fixed.
type StepPlan struct {
	// Times are the step boundaries t0 < t1 < … < tN of the N steps.
	Times []float64
	// Step[i] is the step that save time i falls in and Theta[i] ∈ [0, 1]
	// its position there: ts[i] = Times[k] + Theta[i]·(Times[k+1] − Times[k])
	// with k = Step[i].
	Step  []int
	Theta []float64
}

// NewStepPlan returns the plan of save times ts on the steps with
// boundaries stepTimes (Solution.StepTimes). Every save time must lie in
// [stepTimes[0], stepTimes[N]] (within 1e-9 of the span).
func NewStepPlan(stepTimes, ts []float64) (*StepPlan, error) {
	if err := CheckTimes("stepTimes", stepTimes); err != nil {
		return nil, fmt.Errorf("diffeq.NewStepPlan: %w", err)
	}
	if err := CheckTimes("ts", ts); err != nil {
		return nil, fmt.Errorf("diffeq.NewStepPlan: %w", err)
	}
	n := len(stepTimes) - 1
	t0, tN := stepTimes[0], stepTimes[n]
	eps := 1e-9 * (tN - t0)
	p := &StepPlan{Times: append([]float64(nil), stepTimes...), Step: make([]int, len(ts)), Theta: make([]float64, len(ts))}
	k := 0
	for i, t := range ts {
		if t < t0-eps || t > tN+eps {
			return nil, fmt.Errorf("diffeq.NewStepPlan: ts[%d] = %g lies outside the steps [%g, %g]", i, t, t0, tN)
		}
		for k < n-1 && t > stepTimes[k+1] {
			k++
		}
		h := stepTimes[k+1] - stepTimes[k]
		p.Step[i], p.Theta[i] = k, math.Min(1, math.Max(0, (t-stepTimes[k])/h))
	}
	return p, nil
}

// Len returns the number of steps.
func (p *StepPlan) Len() int { return len(p.Times) - 1 }

// PaddedLen returns the number of steps a graph for n steps is built with:
// n rounded up to a multiple of 1, 2, 4, … (about an eighth of n), so that
// solves whose step counts differ a little share one compiled graph. The
// extra steps have size zero.
func PaddedLen(n int) int {
	q := 1
	for q*8 < n {
		q *= 2
	}
	return (n + q - 1) / q * q
}

// Inputs returns the tensors IntegratePlan takes for the plan with its steps
// padded to n ≥ Len() by steps of size zero: steps (n, 2), the start time
// and size of each step, and weights (len(ts), 5n), the dense-output weights
// of each save time.
func (p *StepPlan) Inputs(dtype dtypes.DType, n int) (steps, weights *tensors.Tensor, err error) {
	if n < p.Len() {
		return nil, nil, fmt.Errorf("diffeq.StepPlan.Inputs: n = %d is below the plan's %d steps", n, p.Len())
	}
	sv := make([]float64, 2*n)
	for k := range n {
		if k < p.Len() {
			sv[2*k], sv[2*k+1] = p.Times[k], p.Times[k+1]-p.Times[k]
		} else {
			sv[2*k] = p.Times[p.Len()]
		}
	}
	wv := make([]float64, len(p.Step)*5*n)
	for i, k := range p.Step {
		for j, w := range denseWeights(p.Theta[i]) {
			wv[i*5*n+j*n+k] = w
		}
	}
	return FromFloat64s(dtype, sv, n, 2), FromFloat64s(dtype, wv, len(p.Step), 5*n), nil
}

// IntegratePlan builds Dopri5 steps from z0 (batch, d) over the steps of a
// plan, given as the inputs of StepPlan.Inputs (steps (n, 2) and weights
// (nSave, 5n)), and returns the states at the save times from the steps'
// dense output. Gradients flow through every step (the step sizes are
// inputs, not differentiated).
func IntegratePlan(ctx *context.Context, f Func, z0, steps, weights *Node) ([]*Node, error) {
	zs, _, err := integratePlan(ctx, f, z0, steps, weights, nil)
	return zs, err
}

// IntegratePlanChecked is IntegratePlan that also returns the largest
// Dopri5 error ratio over the steps (ErrorRatio with the tolerances of
// opts; no gradient flows through it): at most 1 when every step of the
// plan meets the tolerance, so that a plan made for other weights or
// inputs can be checked where it is used.
func IntegratePlanChecked(ctx *context.Context, f Func, z0, steps, weights *Node, opts Options) (zs []*Node, maxRatio *Node, err error) {
	return integratePlan(ctx, f, z0, steps, weights, &opts)
}

func integratePlan(ctx *context.Context, f Func, z0, steps, weights *Node, check *Options) ([]*Node, *Node, error) {
	if z0.Rank() < 1 {
		return nil, nil, fmt.Errorf("diffeq.IntegratePlan: z0 must have a rank ≥ 1, got shape %s", z0.Shape())
	}
	if steps.Rank() != 2 || steps.Shape().Dim(1) != 2 {
		return nil, nil, fmt.Errorf("diffeq.IntegratePlan: steps must be shaped (n, 2), got %s", steps.Shape())
	}
	n := steps.Shape().Dim(0)
	if weights.Rank() != 2 || weights.Shape().Dim(1) != 5*n {
		return nil, nil, fmt.Errorf("diffeq.IntegratePlan: weights must be shaped (nSave, %d), got %s", 5*n, weights.Shape())
	}
	ctx = ctx.Checked(false)
	dt := z0.DType()
	steps, weights = graph.ConvertDType(steps, dt), graph.ConvertDType(weights, dt)
	size := z0.Shape().Size()
	terms := make([][]*Node, 5)
	z := z0
	var k1, maxRatio *Node
	var tol Options
	if check != nil {
		tol = check.withDefaults(1)
	}
	for k := range n {
		t := graph.Reshape(graph.Slice(steps, graph.AxisElem(k), graph.AxisElem(0)))
		h := graph.Reshape(graph.Slice(steps, graph.AxisElem(k), graph.AxisElem(1)))
		if k1 == nil {
			k1 = f(ctx, t, z)
		}
		hz := graph.BroadcastToShape(h, z.Shape()) // see dopri5Stages
		zNext, ks := dopri5Stages(ctx, f, t, h, hz, z, k1)
		r2 := graph.Sub(zNext, z)
		r3 := graph.Sub(graph.Mul(k1, hz), r2)
		r4 := graph.Sub(graph.Sub(r2, graph.Mul(ks[6], hz)), r3)
		for j, r := range []*Node{z, r2, r3, r4, combine(hz, dopriD[:], ks)} {
			terms[j] = append(terms[j], graph.Reshape(r, 1, size))
		}
		if check != nil {
			r := ErrorRatio(dopri5Error(hz, ks), graph.StopGradient(z), graph.StopGradient(zNext), tol.RTol, tol.ATol)
			r = graph.StopGradient(r)
			if maxRatio == nil {
				maxRatio = r
			} else {
				maxRatio = graph.Max(maxRatio, r)
			}
		}
		z, k1 = zNext, ks[6]
	}
	var all []*Node
	for _, ts := range terms {
		all = append(all, ts...)
	}
	// (nSave, size); nn.Linear's gradient is two matmuls (graph.Dot's would
	// materialise an (nSave, 5n, size) product on the pure-Go backend).
	ys := nn.Linear(weights, graph.Concatenate(all, 0), nil)
	nSave := weights.Shape().Dim(0)
	out := make([]*Node, nSave)
	for i := range out {
		out[i] = graph.Reshape(graph.Slice(ys, graph.AxisElem(i)), z0.Shape().Dimensions...)
	}
	return out, maxRatio, nil
}

package diffeq

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// EventFunc is an event function g(t, z) for Options.Event: given the time t
// (a scalar node of z's dtype) and the states z (batch, d), it returns a
// node of any shape (for example (batch,) or a scalar). The solve stops at
// the first time any element of g changes sign.
type EventFunc func(ctx *context.Context, t, z *Node) *Node

// Event is where a solve with Options.Event stopped: the first root of the
// event function, located on the accepted step's dense output.
type Event struct {
	T     float64         // the event time
	Z     *tensors.Tensor // the state at T, shaped like z0
	Index int             // the flat index of the element of g that changed sign
}

// eventState follows the sign of g along a solve.
type eventState struct {
	exec  *context.Exec
	prev  []float64 // g at the start of the current step
	shape []int
}

// newEventState compiles g (once per solver) and evaluates it at (t0, z0).
func (s *ODESolver) newEventState(t0 float64, z0 *tensors.Tensor) (*eventState, error) {
	if s.event == nil {
		g := s.opts.Event
		e, err := context.NewExec(s.backend, s.ctx, func(ctx *context.Context, t, z *Node) *Node {
			return graph.ConvertDType(g(ctx.Checked(false), t, z), z.DType())
		})
		if err != nil {
			return nil, fmt.Errorf("diffeq.Solve: Options.Event: %w", err)
		}
		s.event = e
	}
	ev := &eventState{exec: s.event, shape: z0.Shape().Dimensions}
	v, err := ev.eval(t0, z0)
	if err != nil {
		return nil, err
	}
	if !finiteF64(v) {
		return nil, fmt.Errorf("diffeq.Solve: Options.Event returned non-finite values at t=%g (the initial state)", t0)
	}
	ev.prev = v
	return ev, nil
}

// eval returns g(t, z) as float64s.
func (ev *eventState) eval(t float64, z *tensors.Tensor) ([]float64, error) {
	out, err := ev.exec.Exec(ScalarTensor(z.DType(), t), z)
	if err != nil {
		return nil, fmt.Errorf("diffeq.Solve: evaluating Options.Event at t=%g: %w", t, err)
	}
	return Float64s(out[0])
}

// crossed returns the index of the first element whose sign differs between
// a (the step's start) and b, or −1. An element that starts at exactly 0
// does not count (a root at the start of the solve or of a step already
// reported).
func crossed(a, b []float64) int {
	for i := range a {
		if a[i] != 0 && (b[i] == 0 || (a[i] > 0) != (b[i] > 0)) {
			return i
		}
	}
	return -1
}

// check looks for a sign change of g over the accepted step [t, tNew] and,
// if there is one, locates the first root by bisection on the step's dense
// output to Options.EventTol.
func (ev *eventState) check(s *ODESolver, t, tNew float64, a *attempt, denseAt func(float64) ([]float64, error)) (*Event, error) {
	end, err := ev.eval(tNew, a.zNext)
	if err != nil {
		return nil, err
	}
	idx := crossed(ev.prev, end)
	if idx < 0 {
		ev.prev = end
		return nil, nil
	}
	tol := s.opts.EventTol
	if tol == 0 {
		tol = 1e-13 * math.Max(1, math.Max(math.Abs(t), math.Abs(tNew)))
	}
	dtype := a.zNext.DType()
	lo, hi := t, tNew
	var zHi *tensors.Tensor = a.zNext
	for it := 0; it < 200 && hi-lo > tol; it++ {
		mid := lo + (hi-lo)/2
		v, err := denseAt(mid)
		if err != nil {
			return nil, err
		}
		zm := FromFloat64s(dtype, v, ev.shape...)
		gm, err := ev.eval(mid, zm)
		if err != nil {
			return nil, err
		}
		if j := crossed(ev.prev, gm); j >= 0 {
			hi, zHi, idx = mid, zm, j
		} else {
			lo = mid
		}
	}
	return &Event{T: hi, Z: zHi, Index: idx}, nil
}

// EventTimeGradient returns the derivative dT/dθ of the event time of ev
// with respect to a parameter θ by the implicit function theorem: with g's
// element ev.Index written gᵢ, gᵢ(T(θ), z(T(θ), θ)) = 0 gives
//
//	dT/dθ = −(∂gᵢ/∂z · dz/dθ) / (∂gᵢ/∂t + ∂gᵢ/∂z · f(T, z(T))),
//
// where dzdθ is the sensitivity dz/dθ of the state at the fixed time T,
// shaped like z (for θ = z0[k], for example, column k of the flow's
// Jacobian; computed by the caller by finite differences of two solves to T,
// or by differentiating a solve). It is EventCotangent(ev)·dzdθ.
func (s *ODESolver) EventTimeGradient(ev *Event, dzdθ *tensors.Tensor) (float64, error) {
	c, err := s.EventCotangent(ev)
	if err != nil {
		return 0, err
	}
	if dzdθ == nil || !dzdθ.Shape().Equal(ev.Z.Shape()) {
		return 0, fmt.Errorf("diffeq.EventTimeGradient: dzdθ must be shaped like the state %s, got %v", ev.Z.Shape(), dzdθ)
	}
	cv, err := Float64s(c)
	if err != nil {
		return 0, fmt.Errorf("diffeq.EventTimeGradient: %w", err)
	}
	dv, err := Float64s(dzdθ)
	if err != nil {
		return 0, fmt.Errorf("diffeq.EventTimeGradient: %w", err)
	}
	var out float64
	for k := range cv {
		out += cv[k] * dv[k]
	}
	return out, nil
}

// EventCotangent returns c = −∂gᵢ/∂z / (∂gᵢ/∂t + ∂gᵢ/∂z · f(T, z(T))),
// shaped like the state, so that dT/dθ = c · dz(T)/dθ for any parameter θ
// (see EventTimeGradient). Passing c as the cotangent dL/dz(T) of a solve
// from z0 to T to a vector–Jacobian product of that solve (the adjoint's
// Backward, or backpropagation through it) therefore yields dT/dz0 and
// dT/dθ for every weight at once. ∂g/∂z, ∂g/∂t come from GoMLX autodiff and
// f from one evaluation. It fails when the event is tangent (the
// denominator is 0).
func (s *ODESolver) EventCotangent(ev *Event) (*tensors.Tensor, error) {
	if s.opts.Event == nil {
		return nil, fmt.Errorf("diffeq.EventCotangent: the solver has no Options.Event")
	}
	if ev == nil || ev.Z == nil {
		return nil, fmt.Errorf("diffeq.EventCotangent: ev is nil (the solve ended without an event)")
	}
	g, f, idx := s.opts.Event, s.f, ev.Index
	out, err := context.ExecOnceN(s.backend, s.ctx, func(ctx *context.Context, t, z *Node) []*Node {
		ctx = ctx.Checked(false)
		gv := graph.ConvertDType(g(ctx, t, z), z.DType())
		flat := graph.Reshape(gv, gv.Shape().Size())
		onehot := make([]float64, gv.Shape().Size())
		onehot[idx] = 1
		gi := graph.ReduceAllSum(graph.Mul(flat, graph.ConvertDType(graph.Const(z.Graph(), onehot), z.DType())))
		grads := graph.Gradient(gi, t, z)
		return []*Node{grads[0], grads[1], f(ctx, t, z)}
	}, ScalarTensor(ev.Z.DType(), ev.T), ev.Z)
	if err != nil {
		return nil, fmt.Errorf("diffeq.EventCotangent: %w", err)
	}
	var vals [3][]float64
	for i, x := range out {
		if vals[i], err = Float64s(x); err != nil {
			return nil, fmt.Errorf("diffeq.EventCotangent: %w", err)
		}
	}
	den := vals[0][0]
	for k := range vals[1] {
		den += vals[1][k] * vals[2][k]
	}
	if den == 0 || math.IsNaN(den) || math.IsInf(den, 0) {
		return nil, fmt.Errorf("diffeq.EventCotangent: the event at t=%g is tangent (∂g/∂t + ∂g/∂z·f = %g): its time is not differentiable", ev.T, den)
	}
	c := make([]float64, len(vals[1]))
	for k, v := range vals[1] {
		c[k] = -v / den
	}
	return FromFloat64s(ev.Z.DType(), c, ev.Z.Shape().Dimensions...), nil
}

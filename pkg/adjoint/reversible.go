package adjoint

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/diffeq"
)

// Reversible Heun (Kidger et al. 2021) carries (z, ẑ, μ, σ): the solution, a
// second state, and the drift and diffusion at ẑ. The steps are diffeq's
// ReversibleHeunStep and its exact inverse ReversibleHeunBackStep, applied
// to the Stratonovich form of the SDE; states travel between executables as
// four tensors.

func revState(s diffeq.RevHeunState) []*Node { return []*Node{s.Z, s.ZHat, s.F, s.G} }

func revNodes(s []*Node) diffeq.RevHeunState {
	return diffeq.RevHeunState{Z: s[0], ZHat: s[1], F: s[2], G: s[3]}
}

func (a *SDE) revInitGraph(ctx *context.Context, t, z *Node) []*Node {
	return revState(must(diffeq.ReversibleHeunInit(ctx, a.strat, t, z)))
}

// revForward is one reversible Heun step of state (z, ẑ, μ, σ) from t to t+h.
func (a *SDE) revForward(ctx *context.Context, t, h, dW *Node, s []*Node) []*Node {
	return revState(must(diffeq.ReversibleHeunStep(ctx, a.strat, t, h, revNodes(s), dW)))
}

// revInverse inverts revForward: from the state at t+h to the state at t.
func (a *SDE) revInverse(ctx *context.Context, t, h, dW *Node, s []*Node) []*Node {
	return revState(must(diffeq.ReversibleHeunBackStep(ctx, a.strat, t, h, revNodes(s), dW)))
}

func (a *SDE) revStepGraph(ctx *context.Context, in []*Node) []*Node {
	return a.revForward(ctx, in[0], in[1], in[2], in[3:7])
}

// vjpOf returns the gradients of Σ⟨outs[i], cot[i]⟩ with respect to wrt.
func vjpOf(outs, cot, wrt []*Node) []*Node {
	var s *Node
	for i, o := range outs {
		term := graph.ReduceAllSum(graph.Mul(o, graph.StopGradient(cot[i])))
		if s == nil {
			s = term
		} else {
			s = graph.Add(s, term)
		}
	}
	return graph.Gradient(s, wrt...)
}

// leaves cuts the history of nodes but keeps them differentiable.
func leaves(ns []*Node) []*Node {
	out := make([]*Node, len(ns))
	for i, n := range ns {
		out[i] = graph.Identity(graph.StopGradient(n))
	}
	return out
}

// revBackGraph: in = t (start of the step), h, dW, state at t+h (4),
// cotangents at t+h (4), gθ… → state at t (4), cotangents at t (4), gθ….
func (a *SDE) revBackGraph(ctx *context.Context, in []*Node) []*Node {
	t, h, dW := in[0], in[1], in[2]
	prev := leaves(a.revInverse(ctx, t, h, dW, in[3:7]))
	next := a.revForward(ctx, t, h, dW, prev)
	params := paramNodes(t.Graph(), a.params)
	grads := vjpOf(next, in[7:11], append(append([]*Node{}, prev...), params...))
	out := append(append([]*Node{}, prev...), grads[:4]...)
	for i, g := range grads[4:] {
		out = append(out, graph.Add(in[11+i], graph.ConvertDType(g, t.DType())))
	}
	return out
}

// revInitBackGraph: in = t0, z0, cotangents of (z, ẑ, μ, σ) at t0, gθ… →
// dL/dz0, gθ….
func (a *SDE) revInitBackGraph(ctx *context.Context, in []*Node) []*Node {
	t := in[0]
	z := leaves(in[1:2])
	outs := a.revInitGraph(ctx, t, z[0])
	params := paramNodes(t.Graph(), a.params)
	grads := vjpOf(outs, in[2:6], append(z, params...))
	out := []*Node{grads[0]}
	for i, g := range grads[1:] {
		out = append(out, graph.Add(in[6+i], graph.ConvertDType(g, t.DType())))
	}
	return out
}

func (a *SDE) reversibleBackward(tr *Trajectory, dLdYs []*tensors.Tensor) (*Gradients, error) {
	z0 := tr.Ys[0]
	dtype := z0.DType()
	saveAt := map[int]int{}
	for i, j := range tr.save {
		saveAt[j] = i
	}
	g := tr.grid
	state := tr.sde.final
	cot := make([]*tensors.Tensor, 4)
	for i, s := range state {
		cot[i] = tensors.FromShape(s.Shape())
	}
	addCot := func(i int) {
		if dLdYs[i] == nil {
			return
		}
		v := vec(cot[0])
		addInto(v, dLdYs[i])
		cot[0] = diffeq.FromFloat64s(dtype, v, z0.Shape().Dimensions...)
	}
	addCot(len(dLdYs) - 1)
	var gp []*tensors.Tensor
	for _, v := range a.params {
		gp = append(gp, tensors.FromShape(shapes.Make(dtype, v.Shape().Dimensions...)))
	}
	nfe := 0
	for n := len(g) - 1; n > 0; n-- {
		w := dW(tr.sde.bm, z0, g[n-1], g[n])
		args := append([]any{scalar(z0, g[n-1]), scalar(z0, g[n]-g[n-1]), w}, anys(state)...)
		args = append(append(args, anys(cot)...), anys(gp)...)
		out, err := a.revBack.Exec(args...)
		if err != nil {
			return nil, fmt.Errorf("adjoint.SDE.Backward: reversible step from t=%g: %w", g[n], err)
		}
		nfe += 2
		state, cot, gp = out[:4], out[4:8], out[8:]
		if i, ok := saveAt[n-1]; ok {
			// Checked once per save interval: every check copies to the host.
			if err := checkAdjoint(append([]*tensors.Tensor{cot[0]}, gp...), g[n-1], tr.Ts[i+1]); err != nil {
				return nil, err
			}
			addCot(i)
		}
	}
	args := append([]any{scalar(z0, g[0]), z0}, anys(cot)...)
	out, err := a.revInitBack.Exec(append(args, anys(gp)...)...)
	if err != nil {
		return nil, fmt.Errorf("adjoint.SDE.Backward: initial state: %w", err)
	}
	nfe++
	return &Gradients{Z0: out[0], Vars: a.params, Params: out[1:], NFE: nfe}, nil
}

// solvedForm returns the form of s (defaults filled) that method
// discretises: for EulerMaruyama, which needs additive noise, s as an Ito
// SDE (with additive noise Ito and Stratonovich coincide); otherwise its
// Stratonovich form.
func solvedForm(s diffeq.SDE, method diffeq.Method) (diffeq.SDE, error) {
	if method != diffeq.EulerMaruyama {
		return s.Stratonovich()
	}
	if s.Noise != diffeq.Additive {
		return s, fmt.Errorf("method %q needs additive noise (the diffusion must not depend on z), the SDE has %s noise: use heun", method, s.Noise)
	}
	s.Type = diffeq.Ito
	return s, nil
}

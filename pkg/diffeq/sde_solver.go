package diffeq

import (
	"cmp"
	"fmt"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// SDESolver solves an SDE on the host with fixed steps: the time loop runs in
// Go and each call of a compiled executable takes a chunk of Options.Chunk
// steps, with that chunk's Brownian increments passed in as one
// (steps, batch, m) tensor. The executables are compiled once per chunk
// length and state shape and reused across Solve calls, so keep and reuse
// an SDESolver.
//
// It is not safe for concurrent use.
type SDESolver struct {
	backend backends.Backend
	ctx     *context.Context
	sde     SDE
	opts    Options

	chunks  map[int]*context.Exec
	revInit *context.Exec // ReversibleHeun: (t, z) → (f, g)

	nfe   int
	rev   RevHeunTensors
	probe *context.Exec // (t, z) → whether drift and diffusion are finite
}

// RevHeunTensors is the host copy of a reversible Heun state (see
// RevHeunState): the solution Z, the auxiliary state ZHat, and the drift F
// and diffusion G at ZHat.
type RevHeunTensors struct {
	Z, ZHat, F, G *tensors.Tensor
}

// NewSDESolver returns a solver of sde whose weights live in ctx (a new
// context if nil). opts.Dt (> 0) is the step; opts.Method defaults to
// DefaultSDEMethod(sde.Type); opts.Chunk to 16.
func NewSDESolver(b backends.Backend, ctx *context.Context, sde SDE, opts Options) (*SDESolver, error) {
	if b == nil {
		return nil, fmt.Errorf("diffeq.NewSDESolver: backend is nil")
	}
	sde = sde.withDefaults()
	if err := sde.Validate(); err != nil {
		return nil, fmt.Errorf("diffeq.NewSDESolver: %w", err)
	}
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("diffeq.NewSDESolver: %w", err)
	}
	if !(opts.Dt > 0) {
		return nil, fmt.Errorf("diffeq.NewSDESolver: Options.Dt must be > 0 for SDE solves, got %g", opts.Dt)
	}
	opts.Method = cmp.Or(opts.Method, DefaultSDEMethod(sde.Type))
	if err := checkSDEMethod(sde, opts.Method); err != nil {
		return nil, fmt.Errorf("diffeq.NewSDESolver: Options.Method: %w", err)
	}
	if ctx == nil {
		ctx = context.New()
	}
	s := &SDESolver{backend: b, ctx: ctx, sde: sde, opts: opts, chunks: map[int]*context.Exec{}}
	if opts.Method == ReversibleHeun {
		var err error
		s.revInit, err = context.NewExec(b, ctx, func(ctx *context.Context, t, z *Node) []*Node {
			st, err := ReversibleHeunInit(ctx, sde, t, z)
			if err != nil {
				panic(err)
			}
			return []*Node{st.F, st.G}
		})
		if err != nil {
			return nil, fmt.Errorf("diffeq.NewSDESolver: %w", err)
		}
	}
	return s, nil
}

// Options returns the solver's options (with the default method filled in).
func (s *SDESolver) Options() Options { return s.opts }

// SDE returns the solver's SDE (with defaults filled in).
func (s *SDESolver) SDE() SDE { return s.sde }

// ReversibleState returns, after a ReversibleHeun Solve, the full
// reversible Heun state at the last save time: what an adjoint needs to run
// ReversibleHeunBackStep back along the same grid (SDEGrid(ts, Dt)) with the
// same Brownian increments. It is empty for other methods.
func (s *SDESolver) ReversibleState() RevHeunTensors { return s.rev }

// chunk returns the executable that takes n steps of size h from t. Its
// inputs are t, h, z, noise (n, batch, m) (with Options.NoiseInGraph, the
// CounterKey instead) and, for ReversibleHeun, ẑ, f, g;
// its outputs z (and ẑ, f, g), then a boolean scalar: whether they are all
// finite (the solve's check for NaN/Inf, one scalar per chunk).
func (s *SDESolver) chunk(n int) (*context.Exec, error) {
	if e, ok := s.chunks[n]; ok {
		return e, nil
	}
	sde, m := s.sde, s.opts.Method
	e, err := context.NewExec(s.backend, s.ctx, func(ctx *context.Context, in []*Node) []*Node {
		t, h, z, noise := in[0], in[1], in[2], in[3]
		if s.opts.NoiseInGraph { // in[3] is the key (seed, step0, index0)
			noise = CounterIncrements(noise, h, n, z.Shape().Dimensions[0], sde.NoiseSize(z.Shape().Dimensions[1]))
		}
		var rev *RevHeunState
		if m == ReversibleHeun {
			rev = &RevHeunState{Z: z, ZHat: in[4], F: in[5], G: in[6]}
		}
		at := func(k int) (*Node, *Node) { return graph.Add(t, graph.MulScalar(h, float64(k))), h }
		zs, err := sdeSteps(ctx, sde, m, z, n, at, func(k int) *Node { return noiseAt(noise, k) }, rev)
		if err != nil {
			panic(err)
		}
		if rev != nil {
			return []*Node{rev.Z, rev.ZHat, rev.F, rev.G, allFinite(rev.Z, rev.F, rev.G)}
		}
		return []*Node{zs[n], allFinite(zs[n])}
	})
	if err != nil {
		return nil, err
	}
	s.chunks[n] = e
	return e, nil
}

// Solve integrates from ts[0] to the last save time starting at z0
// (batch, d), driven by the Brownian motion bm (shape (batch, m), m =
// SDE.NoiseSize(d), z0's dtype), and returns the states at the save times.
// Each interval between save times is split into equal steps of at most
// Options.Dt (see SDEGrid), so the steps hit the save times exactly.
func (s *SDESolver) Solve(z0 *tensors.Tensor, ts []float64, bm *Brownian) (*Solution, error) {
	if err := checkState("z0", z0); err != nil {
		return nil, fmt.Errorf("diffeq.SDESolver.Solve: %w", err)
	}
	if err := CheckTimes("ts", ts); err != nil {
		return nil, fmt.Errorf("diffeq.SDESolver.Solve: %w", err)
	}
	if bm == nil {
		return nil, fmt.Errorf("diffeq.SDESolver.Solve: Brownian motion bm is nil")
	}
	batch, d := z0.Shape().Dimensions[0], z0.Shape().Dimensions[1]
	if bb, bmm := bm.Shape(); bb != batch || bmm != s.sde.NoiseSize(d) {
		return nil, fmt.Errorf("diffeq.SDESolver.Solve: Brownian motion bm has shape (%d, %d), want (batch, m) = (%d, %d) for z0 %s and %s noise",
			bb, bmm, batch, s.sde.NoiseSize(d), z0.Shape(), s.sde.Noise)
	}
	if bm.DType() != z0.DType() {
		return nil, fmt.Errorf("diffeq.SDESolver.Solve: Brownian motion bm has dtype %s, z0 has %s", bm.DType(), z0.DType())
	}
	opts := s.opts.withDefaults(ts[len(ts)-1] - ts[0])
	dtype := z0.DType()
	s.nfe, s.rev = 0, RevHeunTensors{}
	rev := s.opts.Method == ReversibleHeun
	var state []*tensors.Tensor // ẑ, f, g for ReversibleHeun
	if rev {
		out, err := s.revInit.Exec(ScalarTensor(dtype, ts[0]), z0)
		if err != nil {
			return nil, fmt.Errorf("diffeq.SDESolver.Solve: evaluating drift and diffusion at t=%g: %w", ts[0], err)
		}
		state = []*tensors.Tensor{z0, out[0], out[1]}
		s.nfe++
	}
	sol := &Solution{Ts: append([]float64(nil), ts...), Ys: []*tensors.Tensor{z0}}
	z := z0
	times := make([]float64, 0, opts.Chunk+1)
	for i := 1; i < len(ts); i++ {
		n, err := StepsIn(ts[i]-ts[i-1], opts.Dt)
		if err != nil {
			return nil, fmt.Errorf("diffeq.SDESolver.Solve: Options.Dt: %w", err)
		}
		if sol.Steps+n > opts.MaxSteps {
			return nil, fmt.Errorf("diffeq.SDESolver.Solve: %w: more than Options.MaxSteps=%d steps by t=%g", ErrMaxSteps, opts.MaxSteps, ts[i])
		}
		h := (ts[i] - ts[i-1]) / float64(n)
		for done := 0; done < n; {
			k := min(opts.Chunk, n-done)
			e, err := s.chunk(k)
			if err != nil {
				return nil, fmt.Errorf("diffeq.SDESolver.Solve: compiling a %d-step chunk: %w", k, err)
			}
			times = times[:0]
			for j := 0; j <= k; j++ {
				times = append(times, ts[i-1]+float64(done+j)*h)
			}
			if done+k == n {
				times[k] = ts[i]
			}
			t := times[0]
			var noise *tensors.Tensor
			if s.opts.NoiseInGraph {
				noise = CounterKey(bm.Seed(), sol.Steps+done, bm.off)
			} else {
				noise = bm.Increments(times)
			}
			args := []any{ScalarTensor(dtype, t), ScalarTensor(dtype, h), z, noise}
			for _, x := range state {
				args = append(args, x)
			}
			out, err := e.Exec(args...)
			if err != nil {
				return nil, fmt.Errorf("diffeq.SDESolver.Solve: steps from t=%g: %w", t, err)
			}
			if finite := out[len(out)-1]; !finite.Value().(bool) {
				return nil, fmt.Errorf("diffeq.SDESolver.Solve: %w", s.nonFinite(z, state, times, sol.Steps+done, bm))
			}
			out = out[:len(out)-1]
			z = out[0]
			if rev {
				state = out[1:]
			}
			done += k
			s.nfe += k * SDENFEPerStep(s.opts.Method)
		}
		sol.Steps += n
		sol.StepsPerInterval = append(sol.StepsPerInterval, n)
		sol.Ys = append(sol.Ys, z)
	}
	if rev {
		s.rev = RevHeunTensors{Z: z, ZHat: state[0], F: state[1], G: state[2]}
	}
	sol.NFE = s.nfe
	return sol, nil
}

// allFinite returns a boolean scalar: whether every value of xs is finite.
func allFinite(xs ...*Node) *Node {
	ok := graph.LogicalAll(graph.IsFinite(xs[0]))
	for _, x := range xs[1:] {
		ok = graph.LogicalAnd(ok, graph.LogicalAll(graph.IsFinite(x)))
	}
	return ok
}

// nonFinite finds, after a chunk of steps over times that started at grid
// step step0 from z (and the reversible Heun state) and produced NaN or Inf,
// the first step at fault, replaying the chunk one step at a time: it
// evaluates the drift and the diffusion at each step's start and names the
// function that returned non-finite values there, or else the step itself
// (an intermediate stage or an overflow of the update).
func (s *SDESolver) nonFinite(z *tensors.Tensor, state []*tensors.Tensor, times []float64, step0 int, bm *Brownian) error {
	if s.probe == nil {
		sde := s.sde
		e, err := context.NewExec(s.backend, s.ctx, func(ctx *context.Context, t, z *Node) []*Node {
			f, g, err := evalSDE(ctx, sde, t, z)
			if err != nil {
				panic(err)
			}
			return []*Node{allFinite(f), allFinite(g)}
		})
		if err != nil {
			return fmt.Errorf("%w between t=%g and t=%g (steps %d to %d)", ErrNonFinite, times[0], times[len(times)-1], step0+1, step0+len(times)-1)
		}
		s.probe = e
	}
	one, err := s.chunk(1)
	if err != nil {
		return err
	}
	dtype := z.DType()
	for j := 0; j+1 < len(times); j++ {
		t, h := times[j], times[j+1]-times[j]
		out, err := s.probe.Exec(ScalarTensor(dtype, t), z)
		if err != nil {
			return fmt.Errorf("evaluating drift and diffusion at t=%g: %w", t, err)
		}
		switch {
		case !out[0].Value().(bool):
			return fmt.Errorf("%w: SDE.Drift returned non-finite values at t=%g (step %d)", ErrNonFinite, t, step0+j+1)
		case !out[1].Value().(bool):
			return fmt.Errorf("%w: SDE.Diffusion returned non-finite values at t=%g (step %d)", ErrNonFinite, t, step0+j+1)
		}
		var noise *tensors.Tensor
		if s.opts.NoiseInGraph {
			noise = CounterKey(bm.Seed(), step0+j, bm.off)
		} else {
			noise = bm.Increments(times[j : j+2])
		}
		args := []any{ScalarTensor(dtype, t), ScalarTensor(dtype, h), z, noise}
		for _, x := range state {
			args = append(args, x)
		}
		next, err := one.Exec(args...)
		if err != nil {
			return fmt.Errorf("replaying the step from t=%g: %w", t, err)
		}
		if !next[len(next)-1].Value().(bool) {
			if len(state) > 0 { // ReversibleHeun: next holds f and g at the step's end
				for k, name := range map[int]string{2: "SDE.Drift", 3: "SDE.Diffusion"} {
					if v, err := Float64s(next[k]); err == nil && CheckFinite(name, v) != nil {
						return fmt.Errorf("%w: %s returned non-finite values at t=%g (the end of step %d)", ErrNonFinite, name, t+h, step0+j+1)
					}
				}
			}
			return fmt.Errorf("%w: the step from t=%g to t=%g (step %d) overflowed although the drift and the diffusion were finite at its start (an intermediate stage, or an update too large for the dtype: try a smaller Options.Dt)",
				ErrNonFinite, t, t+h, step0+j+1)
		}
		z = next[0]
		if len(state) > 0 {
			state = next[1 : len(next)-1]
		}
	}
	return fmt.Errorf("%w between t=%g and t=%g (steps %d to %d), not reproduced one step at a time", ErrNonFinite, times[0], times[len(times)-1], step0+1, step0+len(times)-1)
}

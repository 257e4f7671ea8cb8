package latentsde

import (
	"cmp"
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

// DefaultDiffusionFloor is the default floor on |g| used when dividing the
// drift difference by the diffusion: where |g| < floor, g is replaced by
// ±floor (with g's sign, + for g = 0). torchsde uses the same 1e-3 floor.
const DefaultDiffusionFloor = 1e-3

// PosteriorPrior describes a pair of Ito SDEs with diagonal noise that share
// their diffusion: the posterior dz = f(t, z) dt + g(t, z) dW and the prior
// dz = h(t, z) dt + g(t, z) dW. The KL divergence between their path measures
// (same initial state) is E_q ∫ ½‖(f − h)/g‖² dt (Girsanov).
type PosteriorPrior struct {
	Posterior diffeq.Func // f(t, z), shaped like z
	Prior     diffeq.Func // h(t, z), shaped like z
	Diffusion diffeq.Func // g(t, z), diagonal: shaped like z
	// Floor is the floor on |g| in the division (0: DefaultDiffusionFloor).
	Floor float64
}

func (s PosteriorPrior) floor() float64 {
	if s.Floor > 0 {
		return s.Floor
	}
	return DefaultDiffusionFloor
}

// StableDivide returns num / g where |g| is floored at floor: entries of g
// with |g| < floor are replaced by floor·sign(g) (+floor where g = 0), so the
// division never overflows. The floor does not change the value where
// |g| ≥ floor, the only case that matters for a well-posed model.
func StableDivide(num, g *Node, floor float64) *Node {
	eps := graph.Scalar(g.Graph(), g.DType(), floor)
	signed := graph.Where(graph.GreaterOrEqual(g, graph.ZerosLike(g)), graph.BroadcastToShape(eps, g.Shape()),
		graph.BroadcastToShape(graph.Neg(eps), g.Shape()))
	safe := graph.Where(graph.GreaterOrEqual(graph.Abs(g), graph.BroadcastToShape(eps, g.Shape())), g, signed)
	return graph.Div(num, safe)
}

// LogqpRate returns ½‖(f − h)/g‖² per path (shape (batch,)) at (t, z), along
// with f and g (needed by a step).
func LogqpRate(ctx *context.Context, s PosteriorPrior, t, z *Node) (rate, f, g *Node) {
	f = s.Posterior(ctx.Checked(false), t, z)
	h := s.Prior(ctx.Checked(false), t, z)
	g = s.Diffusion(ctx.Checked(false), t, z)
	u := StableDivide(graph.Sub(f, h), g, s.floor())
	sq := graph.Square(u)
	if sq.Shape().Dim(-1) == 1 {
		sq = graph.Reshape(sq, sq.Shape().Dimensions[0]) // a sum over one element
	} else {
		sq = graph.ReduceSum(sq, -1)
	}
	rate = graph.MulScalar(sq, 0.5)
	return rate, f, g
}

// Increment returns the increment of the posterior SDE augmented with the
// KL path term, state [z, l], over a step of size dt with Brownian increment
// dW: Φ(t, [z, l]) = [f(t, z)·dt + g(t, z)·dW, ½‖(f − h)/g‖²·dt]. Any of
// diffeq.IncrementStep's methods steps it.
func (s PosteriorPrior) Increment(ctx *context.Context, dt, dW *Node) diffeq.Increment {
	return func(t *Node, y []*Node) []*Node {
		rate, f, g := LogqpRate(ctx, s, t, y[0])
		return []*Node{graph.Add(graph.Mul(f, dt), graph.Mul(g, dW)), graph.Mul(rate, dt)}
	}
}

// EulerMaruyamaLogqpStep takes one Euler–Maruyama step of the posterior SDE
// augmented with the KL path term (diffeq.IncrementStep on Increment):
//
//	z' = z + f(t, z)·dt + g(t, z)·dW
//	l' = l + ½‖(f(t, z) − h(t, z))/g(t, z)‖²·dt
//
// z is (batch, d), logqp is (batch,), dW is the Brownian increment over the
// step (shaped like z, variance dt), t and dt are scalars of z's dtype. The
// path term is the left-point rule on the solver's grid (the quadrature
// torchsde uses with method "euler"). This is the in-graph step used when
// differentiating through the solve.
func EulerMaruyamaLogqpStep(ctx *context.Context, s PosteriorPrior, t, dt, z, logqp, dW *Node) (zNext, logqpNext *Node) {
	y, err := diffeq.IncrementStep(diffeq.EulerMaruyama, s.Increment(ctx, dt, dW), t, dt, []*Node{z, logqp})
	if err != nil {
		panic(err)
	}
	return y[0], y[1]
}

// Augmented returns the posterior SDE augmented with the KL path term as an
// extra last state component, for latent size d: for the state [z, l]
// (batch, d+1) the drift is [f(t, z), ½‖(f − h)/g‖²] and the noise term
// [g(t, z)·dW, 0], driven by d Brownian motions (scalar noise for d = 1,
// general noise with a (batch, d+1, d) diffusion [diag(g); 0] otherwise, so
// no Brownian motion is drawn for the path term). Solved with
// Euler–Maruyama, l integrates the path term with the left-point rule on the
// solver's grid.
func (s PosteriorPrior) Augmented(d int) diffeq.SDE {
	split := func(za *Node) *Node {
		return graph.Slice(za, graph.AxisRange(), graph.AxisRange(0, d))
	}
	sde := diffeq.SDE{
		Drift: func(ctx *context.Context, t, za *Node) *Node {
			rate, f, _ := LogqpRate(ctx, s, t, split(za))
			return graph.Concatenate([]*Node{f, graph.ExpandAxes(rate, -1)}, -1)
		},
		Type: diffeq.Ito,
	}
	if d == 1 {
		sde.Noise = diffeq.Scalar
		sde.Diffusion = func(ctx *context.Context, t, za *Node) *Node {
			g := s.Diffusion(ctx.Checked(false), t, split(za))
			return graph.Concatenate([]*Node{g, graph.ZerosLike(g)}, -1)
		}
		return sde
	}
	sde.Noise, sde.BrownianSize = diffeq.General, d
	sde.Diffusion = func(ctx *context.Context, t, za *Node) *Node {
		g := s.Diffusion(ctx.Checked(false), t, split(za)) // (batch, d)
		dd := shapes.Make(g.DType(), g.Shape().Dimensions[0], d, d)
		eye := graph.DiagonalWithValue(graph.Scalar(za.Graph(), g.DType(), 1), d)
		diag := graph.Mul(graph.BroadcastToShape(graph.ExpandAxes(g, -1), dd), broadcastTo(eye, dd)) // (batch, d, d)
		zeros := graph.ZerosLike(graph.Slice(diag, graph.AxisRange(), graph.AxisRange(0, 1)))
		return graph.Concatenate([]*Node{diag, zeros}, 1)
	}
	return sde
}

// LogqpSolver solves the posterior SDE of a PosteriorPrior on the host with
// diffeq's SDESolver, carrying the KL path term as an extra state (the
// augmented state [z, logqp], see Augmented). The time loop runs in Go and
// each executable call advances a chunk of steps.
//
// It is not safe for concurrent use. Keep and reuse it: executables are
// compiled once per (batch, steps) shape.
type LogqpSolver struct {
	backend backends.Backend
	ctx     *context.Context
	sde     PosteriorPrior
	opts    diffeq.Options
	solvers map[int]*diffeq.SDESolver // by latent size d
	rate    *context.Exec
}

// NewLogqpSolver returns a solver whose networks, if any, take their weights
// from ctx (nil: a new empty context). opts.Dt (> 0) is the step; the
// method defaults to Euler–Maruyama (the one whose path term is the
// left-point rule).
func NewLogqpSolver(b backends.Backend, ctx *context.Context, sde PosteriorPrior, opts diffeq.Options) (*LogqpSolver, error) {
	if b == nil {
		return nil, fmt.Errorf("latentsde.NewLogqpSolver: backend is nil")
	}
	if sde.Posterior == nil || sde.Prior == nil || sde.Diffusion == nil {
		return nil, fmt.Errorf("latentsde.NewLogqpSolver: sde needs Posterior, Prior and Diffusion")
	}
	if !(opts.Dt > 0) || math.IsInf(opts.Dt, 0) {
		return nil, fmt.Errorf("latentsde.NewLogqpSolver: Options.Dt must be finite and > 0, got %g", opts.Dt)
	}
	opts.Method = cmp.Or(opts.Method, diffeq.EulerMaruyama)
	if ctx == nil {
		ctx = context.New()
	}
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("latentsde.NewLogqpSolver: %w", err)
	}
	s := &LogqpSolver{backend: b, ctx: ctx, sde: sde, opts: opts, solvers: map[int]*diffeq.SDESolver{}}
	var err error
	s.rate, err = context.NewExec(b, ctx, func(ctx *context.Context, t, z *Node) *Node {
		rate, _, _ := LogqpRate(ctx, sde, t, z)
		return rate
	})
	if err != nil {
		return nil, fmt.Errorf("latentsde.NewLogqpSolver: %w", err)
	}
	return s, nil
}

// LogqpSolution holds a solve's states and KL path terms at the save times.
type LogqpSolution struct {
	Ts []float64
	// Zs[i] is the state at Ts[i], flat (batch·d), row-major.
	Zs [][]float64
	// Logqp[i][p] is path p's KL path term accumulated from Ts[0] to Ts[i].
	Logqp      [][]float64
	Batch, Dim int
	Steps      int // solver steps taken
}

// Solve integrates the posterior SDE from z0 (batch, d; Float32 or Float64)
// over the save times ts (strictly increasing), driven by a diffeq.Brownian
// made from seed whose cells are the solver's steps when the grid is
// uniform (the Brownian's fast path).
func (s *LogqpSolver) Solve(z0 *tensors.Tensor, ts []float64, seed uint64) (*LogqpSolution, error) {
	if z0 == nil || z0.Shape().Rank() != 2 {
		return nil, fmt.Errorf("latentsde.LogqpSolver.Solve: z0 must be a (batch, d) tensor")
	}
	grid, _, err := diffeq.SDEGrid(ts, s.opts.Dt)
	if err != nil {
		return nil, fmt.Errorf("latentsde.LogqpSolver.Solve: %w", err)
	}
	cell := s.opts.Dt
	if h := (grid[len(grid)-1] - grid[0]) / float64(len(grid)-1); uniform(grid, h) {
		cell = h
	}
	batch, d := z0.Shape().Dimensions[0], z0.Shape().Dimensions[1]
	bm, err := diffeq.NewBrownian(seed, ts[0], ts[len(ts)-1], cell, batch, d, z0.DType())
	if err != nil {
		return nil, fmt.Errorf("latentsde.LogqpSolver.Solve: %w", err)
	}
	return s.SolveWith(z0, ts, bm)
}

// uniform reports whether the grid's steps all equal h to 1e-9 relative.
func uniform(grid []float64, h float64) bool {
	for i := 1; i < len(grid); i++ {
		if math.Abs(grid[i]-grid[i-1]-h) > 1e-9*h {
			return false
		}
	}
	return true
}

// SolveWith is Solve driven by the Brownian motion bm, shaped (batch, d).
func (s *LogqpSolver) SolveWith(z0 *tensors.Tensor, ts []float64, bm *diffeq.Brownian) (*LogqpSolution, error) {
	if z0 == nil || z0.Shape().Rank() != 2 {
		return nil, fmt.Errorf("latentsde.LogqpSolver.Solve: z0 must be a (batch, d) tensor")
	}
	dtype := z0.DType()
	if dtype != dtypes.Float32 && dtype != dtypes.Float64 {
		return nil, fmt.Errorf("latentsde.LogqpSolver.Solve: z0 must be Float32 or Float64, got %s", dtype)
	}
	zv, err := diffeq.Float64s(z0)
	if err != nil {
		return nil, err
	}
	if err := diffeq.CheckFinite("z0", zv); err != nil {
		return nil, fmt.Errorf("latentsde.LogqpSolver.Solve: %w", err)
	}
	batch, d := z0.Shape().Dimensions[0], z0.Shape().Dimensions[1]
	aug := make([]float64, batch*(d+1))
	for p := range batch {
		copy(aug[p*(d+1):p*(d+1)+d], zv[p*d:(p+1)*d])
	}
	solver, ok := s.solvers[d]
	if !ok {
		solver, err = diffeq.NewSDESolver(s.backend, s.ctx, s.sde.Augmented(d), s.opts)
		if err != nil {
			return nil, fmt.Errorf("latentsde.LogqpSolver.Solve: %w", err)
		}
		s.solvers[d] = solver
	}
	sol, err := solver.Solve(diffeq.FromFloat64s(dtype, aug, batch, d+1), ts, bm)
	if err != nil {
		return nil, fmt.Errorf("latentsde.LogqpSolver.Solve: %w", err)
	}
	out := &LogqpSolution{Ts: sol.Ts, Batch: batch, Dim: d, Steps: sol.Steps}
	for _, y := range sol.Ys {
		v, err := diffeq.Float64s(y)
		if err != nil {
			return nil, err
		}
		zs, ls := make([]float64, batch*d), make([]float64, batch)
		for p := range batch {
			copy(zs[p*d:(p+1)*d], v[p*(d+1):p*(d+1)+d])
			ls[p] = v[p*(d+1)+d]
		}
		out.Zs = append(out.Zs, zs)
		out.Logqp = append(out.Logqp, ls)
	}
	return out, nil
}

// Rate returns ½‖(f − h)/g‖² per path at (t, z): the integrand of the KL
// path term. z is (batch, d).
func (s *LogqpSolver) Rate(t float64, z *tensors.Tensor) ([]float64, error) {
	out, err := s.rate.Exec(diffeq.ScalarTensor(z.DType(), t), z)
	if err != nil {
		return nil, fmt.Errorf("latentsde.LogqpSolver.Rate: %w", err)
	}
	return diffeq.Float64s(out[0])
}

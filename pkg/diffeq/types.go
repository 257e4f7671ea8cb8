package diffeq

import (
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Node is a GoMLX graph node.
type Node = graph.Node

// Func is a vector field: given the time t (a scalar node of z's dtype) and a
// batch of states z (batch, d), it returns a node shaped like z. Weights come
// from ctx; a solver calls Func many times in one graph, so ctx arrives
// unchecked (Checked(false)): the first call creates the weights (a plain
// context.New() is enough, as with any GoMLX layer), later calls reuse them.
type Func func(ctx *context.Context, t, z *Node) *Node

// Method names a solver.
type Method string

// ODE methods.
const (
	Euler    Method = "euler"    // explicit Euler, order 1
	Midpoint Method = "midpoint" // explicit midpoint, order 2
	RK4      Method = "rk4"      // classic Runge–Kutta, order 4
	Dopri5   Method = "dopri5"   // Dormand–Prince 5(4), adaptive
	Tsit5    Method = "tsit5"    // Tsitouras 5(4), adaptive
	Bosh3    Method = "bosh3"    // Bogacki–Shampine 3(2), adaptive
	Dopri8   Method = "dopri8"   // Dormand–Prince 8(5,3) (DOP853), adaptive
	// Kvaerno5 is Kværnø's L-stable ESDIRK 5(4) for stiff problems: adaptive,
	// implicit stages solved by simplified Newton iterations with the
	// Jacobian of f from GoMLX autodiff. f must act row by row (the
	// Jacobian is taken per batch row).
	Kvaerno5 Method = "kvaerno5"
)

// SDE methods.
const (
	EulerMaruyama  Method = "euler_maruyama"  // Ito, strong order 0.5 (1 for additive noise)
	Milstein       Method = "milstein"        // Ito, diagonal or scalar noise, strong order 1
	Heun           Method = "heun"            // Stratonovich, strong order 0.5 (1 for commutative noise)
	SDEMidpoint    Method = "sde_midpoint"    // Stratonovich midpoint
	ReversibleHeun Method = "reversible_heun" // Stratonovich, algebraically reversible (Kidger et al. 2021)
)

// IsAdaptive reports whether m chooses its own step sizes.
func (m Method) IsAdaptive() bool {
	switch m {
	case Dopri5, Tsit5, Bosh3, Dopri8, Kvaerno5:
		return true
	}
	return false
}

// IsImplicit reports whether m solves implicit stages (for stiff problems).
func (m Method) IsImplicit() bool { return m == Kvaerno5 }

// Order returns the classical order of an ODE method (0 if unknown).
func (m Method) Order() int {
	switch m {
	case Euler:
		return 1
	case Midpoint:
		return 2
	case RK4:
		return 4
	case Dopri5, Tsit5, Kvaerno5:
		return 5
	case Bosh3:
		return 3
	case Dopri8:
		return 8
	}
	return 0
}

// NFEPerStep returns the number of vector-field evaluations per step of an
// explicit ODE method (Dopri5 and Tsit5: 6, Bosh3: 3, first-same-as-last;
// Dopri8: 12, and 3 more for a dense output in a step). For Kvaerno5 it
// returns 6, the number of implicit stages: each costs one evaluation per
// Newton iteration, and each Jacobian d more.
func (m Method) NFEPerStep() int {
	switch m {
	case Euler:
		return 1
	case Midpoint:
		return 2
	case RK4:
		return 4
	case Dopri5, Tsit5, Kvaerno5:
		return 6
	case Bosh3:
		return 3
	case Dopri8:
		return 12
	}
	return 0
}

// Options configure a solve. Zero values take the documented defaults.
type Options struct {
	// Method is the solver; default RK4 for ODEs, EulerMaruyama for Ito SDEs
	// and Heun for Stratonovich SDEs.
	Method Method
	// Dt is the step of fixed-step methods: the solver's grid is t0, t0+Dt, …
	// with the save times inserted. For adaptive methods it is the first step
	// (0: chosen automatically). If 0 for a fixed-step method, the steps are the
	// intervals between save times.
	Dt float64
	// RTol and ATol are the adaptive methods' relative and absolute
	// tolerances (defaults 1e-6 and 1e-9). RTol below a tenth of the state
	// dtype's machine epsilon is refused.
	RTol, ATol float64
	// MaxSteps bounds the number of steps, accepted and rejected (default 100000).
	MaxSteps int
	// MinDt: an adaptive ODE method fails with ErrStepUnderflow when the
	// step falls below it. Default for ODESolver: 16 ulps of the current
	// time in the state's dtype (a step that hardly moves t), so that spans
	// of many time scales, such as Robertson's [0, 4e10] starting with steps
	// of 1e-5, need no setting; AdaptiveSDESolver: 1e-12 times the span.
	MinDt float64
	// Chunk is the number of fixed steps unrolled per compiled executable in
	// host solves (default 16).
	Chunk int
	// Dense (adaptive methods): the steps run over the save times instead
	// of stopping at each, and the states there come from the method's
	// continuous extension (Dopri5: order 4, Tsit5: 4, Bosh3: cubic
	// Hermite, 3, Dopri8: 7, at 3 extra evaluations per step that holds a
	// save time; Kvaerno5: cubic Hermite), as in torchdiffeq and diffrax.
	// Many closely spaced save times then cost no extra steps. The last save
	// time always ends a step.
	Dense bool
	// Event (adaptive ODE methods): the solve stops at the first root of
	// g(t, z) (the first sign change of any of its elements over an
	// accepted step, located by bisection on the step's dense output) and
	// returns it in Solution.Event. Two sign changes within one step are
	// not seen. ODESolver.EventTimeGradient differentiates the event time.
	Event EventFunc
	// EventTol is the width of the final bracket of the event time (default
	// 1e-13·max(1, |t|)).
	EventTol float64
	// NoiseInGraph (SDESolver): draw the Brownian increments inside each
	// chunk's graph from a counter-based key (see CounterNormals) instead
	// of on the host: increment k of path i is √h_k·CounterNormal(seed, k,
	// i·m+c), with the seed and the row offset taken from the Brownian
	// passed to Solve. Only a small key crosses to the device per chunk.
	// The path is another sample than the Brownian's own (the same for every
	// chunk length and sharding, reproducible by seed); the host Brownian
	// stays the reference on the pure-Go backend.
	NoiseInGraph bool
}

// NFE counts vector-field evaluations.
type NFE struct {
	Forward  int // evaluations of the vector field in forward solves
	Backward int // evaluations in backward (adjoint) solves
}

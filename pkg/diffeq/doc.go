// Package diffeq solves ordinary and stochastic differential equations whose
// vector fields are GoMLX graphs.
//
// A vector field is a Func: a Go function that builds, in a GoMLX graph, the
// time derivative of a batch of states. It may own weights in a GoMLX
// context, so neural ODEs and SDEs are solved the same way as closed-form
// ones.
//
// There are two ways to solve:
//
//   - In a graph (Integrate, IntegrateSDE): the solver's steps are unrolled in
//     the caller's graph, so GoMLX autodiff differentiates through them
//     ("backprop through the solver", the direct method). The graph grows with
//     the number of steps.
//   - On the host (ODESolver, SDESolver): the time loop runs in Go over
//     compiled executables that each take a chunk of steps, so the graph size
//     does not depend on the number of steps. This is how long solves, adaptive
//     steps and the adjoint's backward solves run. The pure-Go backend has no
//     While op, which is why the loop lives in Go.
//
// States are (batch, d) tensors; results at the save times are stacked as
// (len(ts), batch, d). Times are float64 on the host and passed to graphs as
// scalars of the state's dtype.
//
// ODE methods: Euler, Midpoint, RK4 (fixed steps); Dopri5, Tsit5, Bosh3 and
// Dopri8 (adaptive, with RTol/ATol, dense output, a step limit and a
// step-underflow error); Kvaerno5 (implicit, L-stable, for stiff problems).
// Options.Event stops an adaptive solve at the first root of g(t, z). SDE methods:
// Euler–Maruyama and Milstein (Ito), Heun, Midpoint and reversible Heun
// (Stratonovich), with diagonal, scalar, additive and general noise.
// Brownian motion is reproducible: the increment over an interval depends
// only on the seed and the interval, never on the order of the queries.
package diffeq

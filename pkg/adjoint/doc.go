// Package adjoint computes gradients of losses of ODE and SDE solves with
// respect to the initial state and the weights of the vector fields, and
// plugs them into ordinary GoMLX training.
//
// Three methods, chosen per solve:
//
//   - Direct: backpropagation through the solver's unrolled steps
//     (diffeq.Integrate, IntegrateSDE). Exact gradients of the discretised
//     solve; memory grows with the number of steps.
//   - Adjoint: for ODEs the continuous adjoint (ODE): the augmented system
//     [z, a = dL/dz, dL/dθ] is solved backwards in time with the same method
//     and tolerances, the vector–Jacobian products aᵀ∂f/∂z and aᵀ∂f/∂θ coming
//     from GoMLX autodiff; for SDEs the stochastic adjoint (SDE, Li et al.
//     2020) on the same Brownian path, replayed backwards. Memory does not
//     grow with the number of steps.
//   - Reversible: the reversible Heun solver (Kidger et al. 2021), whose
//     backward pass reconstructs each state with the step's algebraic
//     inverse and backpropagates through each step: exact gradients of the
//     discretised solve at constant memory.
//
// Trainer combines an encoder, the dynamics and a loss (decoder), whose
// weights live in one GoMLX context, and feeds the summed gradients to a
// GoMLX optimizer. See docs/adjoint.md for the equations and usage.
package adjoint

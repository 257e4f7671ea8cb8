// Package latentsde provides latent stochastic and ordinary differential
// equation models and the pieces they are built from:
//
//   - the KL divergence between a posterior and a prior SDE that share their
//     diffusion, integrated alongside the solve as an extra state (logqp),
//     with a host solver (LogqpSolver) and an in-graph Euler–Maruyama step;
//   - the Ornstein–Uhlenbeck KL check: closed form, Monte Carlo logqp
//     estimate, trapezoid estimates and a convergence table (OUPair,
//     OUKLCheck, OUKLConvergence);
//   - ELBO pieces: KL between diagonal Gaussians, Gaussian and Laplace
//     log-likelihoods with per-observation masks, KL weight schedules
//     (constant, linear warm-up, cyclical annealing);
//   - the latent SDE of Li et al. (2020) (GRU encoder run backwards over the
//     observations, posterior and prior drifts, shared diagonal diffusion,
//     decoder) and the latent ODE of Rubanova et al. (2019);
//   - SDE Matching (Bartosh et al. 2025), a simulation-free training
//     objective for the same latent SDE: Gaussian posterior marginals from a
//     network with forward-mode time derivatives, their closed-form posterior
//     drift, the negative ELBO at random times (TrainConfig.Objective =
//     ObjectiveMatching), and its comparison with the stochastic adjoint
//     (CompareMethods).
//
// See docs/latentsde.md for the maths.
package latentsde

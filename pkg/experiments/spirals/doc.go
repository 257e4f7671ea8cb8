// Package spirals is the latent ODE experiment on irregularly observed 2-D
// spirals (Chen et al. 2018, "Neural ordinary differential equations",
// section 5; Rubanova et al. 2019 for the irregular-time evaluation).
//
// The data come from package datasets/spirals: 1000 spirals with random
// linear dynamics, half clockwise, half counter-clockwise, 200 noisy points
// each. Training batches are random 100-point sub-spans of which a random 30,
// 50 or 100 points are kept, on one shared relative time grid with
// per-sample masks.
//
// The [Model] is a GRU encoder over the reversed observations and time gaps,
// q(z0) with a 6-dimensional latent state, an ELU-MLP latent vector field and
// a linear decoder, trained on the negative ELBO per observation (Gaussian
// likelihood with the known noise plus KL to N(0, I)) with Adam. Gradients
// come from package adjoint: backpropagation through the unrolled solver
// (Direct) or the continuous adjoint (Adjoint); the solver is any of
// package diffeq's ODE methods.
//
// The pieces are library functions so that notebooks and the `gosde
// spirals` command stay thin: [Setup] and [Run] (data, learner, training
// with checkpoints), [Evaluate] (held-out extrapolation RMSE against the
// repeat-the-last-point baseline, and interpolation RMSE with 30/50/100
// observed points), [ReconstructionGrid], [HomotopyGrid] and [LossPlot]
// (figures), and [BenchConfig] / [BenchStep] (the torchdiffeq
// examples/latent_ode.py setting, to time one training step).
package spirals

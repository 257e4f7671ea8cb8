// Package basics is the "neural ODE basics" experiment: learn the vector
// field of a 2-D system from one noisy observed trajectory.
//
// Two true systems are provided: [LinearSpiral], dz/dt = A z with
// A = [[-0.1, -1], [1, -0.1]] (an inward spiral), and [NonlinearSpiral], a
// logistic blend of two linear fields around x₀ = (−1, 0). The trajectory from
// z0 = (0.6, 0.3) is observed at 200 points on [0, 6.29·5] with Gaussian
// noise. [Run] fits a learned field — a 2×2 matrix ([Linear]) or a small ELU
// MLP ([MLP]) — by integrating it through random sub-spans of the data
// (length 1–5, up to 32 points) with an in-graph RK4 solve, differentiating
// through the solver (the direct method), with the mean squared error and
// Adam. Progress and figures reach the caller through callbacks
// (Config.OnStep, Config.OnPlot), so a notebook cell or the `gosde basics`
// command stays a few lines long.
package basics

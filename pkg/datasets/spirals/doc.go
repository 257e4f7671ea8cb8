// Package spirals generates the 2-D spiral data set of the latent ODE
// experiments (Chen et al. 2018; the torchdiffeq latent_ode example) and
// samples the irregularly observed training batches used to fit a latent ODE.
//
// Each spiral follows linear dynamics dx/dt = W x with its own random W:
//
//	W11, W22 = −0.1|N| − 0.05   (independent draws: decay)
//	W12 = |N|, W21 = −|N|        (clockwise rotation)
//	W12 = −|N|, W21 = |N|        (counter-clockwise: the two swapped)
//
// and x0 = 2·N(0, I). The noise-free trajectory is expm(W t)·x0, computed
// exactly with the closed form of the 2×2 matrix exponential ([Expm2]);
// observations add Gaussian noise. Half of the spirals turn clockwise, half
// counter-clockwise.
//
// Training batches ([Dataset.Sample]) take a random sub-span of Span
// consecutive points of each chosen spiral and keep a random 30, 50 or 100 of
// them (sorted): the observation times are irregular. All samples of a batch
// share one relative time grid — the span's regular grid, the union of every
// possible observation time, with times measured from each sample's first
// kept observation — and a per-sample mask marks the kept points.
//
// Everything here is plain Go (float64 slices); it does not depend on GoMLX.
package spirals

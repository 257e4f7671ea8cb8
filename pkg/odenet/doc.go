// Package odenet holds the MNIST classifiers of Chen et al., "Neural Ordinary
// Differential Equations" (2018), section 7.1: the ODE-Net, whose middle is
// one ODE block solved on [0, 1], and the ResNet with six residual blocks it
// is compared with; plus their training loop and evaluation.
//
// Both share the reference implementation's layout (torchdiffeq's
// examples/odenet_mnist.py): a downsampling stem (3×3 convolution to 64
// channels, group norm, ReLU, two 4×4 stride-2 convolutions, 28×28 → 26×26 → 13×13 → 6×6),
// then the ODE block or the residual blocks, then group norm, ReLU, global
// average pooling and a linear layer to 10 classes. The ODE-Net has 208,266
// parameters (the reference's count), the ResNet 576,778.
//
// The ODE block's dynamics is a diffeq.Func on the flattened state
// (batch, 64·6·6), so any solver of package diffeq, and the adjoint method,
// can drive it. By default training unrolls fixed solver steps in the graph
// and differentiates through them (the paper's RK-Net when the method is
// RK4). With Options.Grad set, the block is solved on the host by
// adjoint.Trainer (AdjointModel; adaptive Dopri5 or fixed steps) and the
// gradients come from the continuous adjoint (adjoint.Adjoint) or from
// backpropagation through the unrolled solve (adjoint.Direct); the variables
// and checkpoints are the same as the in-graph path's.
package odenet

// Package nn holds the neural-network building blocks that gosde's models use:
// Dense (a linear layer whose gradient is two plain matmuls, fast on GoMLX's
// pure-Go backend), Linear (the same on explicit tensors), MLP with a choice of
// Activation, FastTanh, a GRU cell (GRUCell, GRU), and the convolution and
// normalisation layers (Conv2D, GroupNorm) of the image models.
//
// Layers keep their variables in a *context.Context, in the scope the caller
// passes (MLP and GRUCell add sub-scopes). Like GoMLX's layers, they panic
// with a descriptive message on invalid shapes while the graph is built.
//
// Library code takes its backend from the caller; programs and tests get one
// from github.com/gosde/gosde/pkg/backend.
package nn

package diffeq

import (
	"fmt"
	"math"

	"github.com/gosde/gosde/pkg/backend"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Noise drawn inside the graph.
//
// The counter-based generator below gives every (step k, element j) of a
// solve its own standard normal, a fixed function of (seed, k, j): j =
// i·m + c for path i and Brownian component c. No state is carried from
// one executable call to the next, so a solve's noise can be drawn on the
// device chunk by chunk, a backward pass regenerates the forward pass's
// increments from the same key, the same seed always gives the same path,
// and splitting the batch over shards (with the global row offset in the
// key) or the steps over chunks of any length changes nothing.
//
// Construction: kₛ = s(s(seed + γ) ⊕ (k + c₁)) is the key of step k, with s
// the SplitMix64 finaliser, γ = 0x9e3779b97f4a7c15 and ⊕ exclusive or;
// element j gets the 64-bit hash h = s(kₛ + (j+1)·γ) (SplitMix64's stream
// from kₛ). Its top 24 bits give u₁ = (h>>40 + 1)/2²⁴ ∈ (0, 1] and the next
// 24 bits u₂ = ((h>>16) mod 2²⁴)/2²⁴ ∈ [0, 1), and the normal is
// √(−2 ln u₁)·cos(2πu₂) (Box–Muller). Both uniforms are exact in float32, so
// the graph's float32 values differ from CounterNormal's float64 ones only
// by the rounding of the logarithm, square root and cosine. The 24-bit
// uniforms bound |N| by √(48 ln 2) ≈ 5.77: the tail beyond it has
// probability 8·10⁻⁹ under the normal law.
//
// This is a different generator from Brownian's (a ziggurat on the host
// with a Brownian bridge inside cells): the increments are defined on the
// solver's step grid only, step k over [t_k, t_{k+1}] being
// √(t_{k+1} − t_k)·N(seed, k, j), and two solves with different steps see
// unrelated paths. Brownian stays the reference on the pure-Go backend.

// PreferNoiseInGraph reports whether Options.NoiseInGraph is the better
// choice on backend b: true when b's first device is an accelerator (XLA on
// a GPU), where drawing the noise on the host costs more than the solve and
// a transfer per chunk; false on CPUs (the pure-Go backend, XLA CPU), where
// the host generator is as fast and remains the reference.
func PreferNoiseInGraph(b backends.Backend) bool { return backend.OnAccelerator(b) }

// counterStepSalt separates the step counter from the seed in the key.
const counterStepSalt = 0x632be59bd9b4e019

// CounterNormal returns the standard normal that the in-graph generator
// (CounterNormals) gives to element index of step step for seed, computed
// in float64 on the host: the reference the graph is tested against.
func CounterNormal(seed, step, index uint64) float64 {
	k := splitmix64(splitmix64(seed+golden) ^ (step + counterStepSalt))
	h := splitmix64(k + (index+1)*golden)
	u1 := float64(h>>40+1) * (1.0 / (1 << 24))
	u2 := float64((h>>16)&(1<<24-1)) * (1.0 / (1 << 24))
	return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
}

// CounterKey returns the key tensor CounterNormals takes: Uint64 (seed,
// step0, index0), where step0 is the global index of the first step drawn
// and index0 that of the first element (the first row of a shard times m).
// It panics if step0 is negative.
func CounterKey(seed uint64, step0 int, index0 uint64) *tensors.Tensor {
	if step0 < 0 {
		panic(fmt.Sprintf("diffeq.CounterKey: step0 must be ≥ 0, got %d", step0))
	}
	return tensors.FromValue([]uint64{seed, uint64(step0), index0})
}

// CounterNormals returns, in key's graph, standard normals shaped (steps,
// batch, m) of dtype (Float32 or Float64): element (k, i, c) is
// CounterNormal(seed, step0+k, index0+i·m+c) for key = (seed, step0,
// index0), a Uint64 (3) node (see CounterKey). It panics, naming the
// argument, if key is not a Uint64 (3) node, a size is < 1 or dtype is not
// a float type.
func CounterNormals(key *Node, steps, batch, m int, dtype dtypes.DType) *Node {
	if key == nil || key.DType() != dtypes.Uint64 || !key.Shape().Equal(shapes.Make(dtypes.Uint64, 3)) {
		panic(fmt.Sprintf("diffeq.CounterNormals: key must be a Uint64 (3) node (seed, step0, index0), got %s", shapeOf(key)))
	}
	if steps < 1 || batch < 1 || m < 1 {
		panic(fmt.Sprintf("diffeq.CounterNormals: steps, batch and m must be ≥ 1, got %d, %d and %d", steps, batch, m))
	}
	if dtype != dtypes.Float32 && dtype != dtypes.Float64 {
		panic(fmt.Sprintf("diffeq.CounterNormals: dtype must be Float32 or Float64, got %s", dtype))
	}
	g := key.Graph()
	u64 := func(v uint64) *Node { return graph.Const(g, v) }
	part := func(i int) *Node { return graph.Reshape(graph.Slice(key, graph.AxisElem(i))) }
	seed, step0, index0 := part(0), part(1), part(2)
	// Step keys (steps, 1).
	ks := graph.Add(graph.Iota(g, shapes.Make(dtypes.Uint64, steps), 0), step0)
	ks = graph.BitwiseXor(graphSplitmix64(graph.Add(seed, u64(golden))), graph.Add(ks, u64(counterStepSalt)))
	ks = graph.Reshape(graphSplitmix64(ks), steps, 1)
	// Element offsets (1, batch·m): (index0 + j + 1)·γ.
	js := graph.Add(graph.Iota(g, shapes.Make(dtypes.Uint64, batch*m), 0), graph.Add(index0, u64(1)))
	js = graph.Reshape(graph.Mul(js, u64(golden)), 1, batch*m)
	h := graphSplitmix64(graph.Add(ks, js))
	scale := math.Ldexp(1, -24)
	u1 := graph.MulScalar(graph.ConvertDType(graph.Add(shiftRight(h, 40), u64(1)), dtype), scale)
	u2 := graph.MulScalar(graph.ConvertDType(graph.BitwiseAnd(shiftRight(h, 16), u64(1<<24-1)), dtype), scale)
	n := graph.Mul(graph.Sqrt(graph.MulScalar(graph.Log(u1), -2)), graph.Cos(graph.MulScalar(u2, 2*math.Pi)))
	return graph.Reshape(n, steps, batch, m)
}

// CounterIncrements returns Brownian increments (steps, batch, m) for steps
// of size h drawn in the graph: √h·CounterNormals(key, steps, batch, m, h's
// dtype). h is a scalar node (every step the same) or a (steps) node of a
// float dtype. It panics, naming the argument, on other shapes.
func CounterIncrements(key, h *Node, steps, batch, m int) *Node {
	if h == nil || !h.DType().IsFloat() || !(h.Shape().IsScalar() || h.Shape().Equal(shapes.Make(h.DType(), steps))) {
		panic(fmt.Sprintf("diffeq.CounterIncrements: h must be a float scalar or a (%d) vector of step sizes, got %s", steps, shapeOf(h)))
	}
	n := CounterNormals(key, steps, batch, m, h.DType())
	s := graph.Sqrt(h)
	if !s.Shape().IsScalar() {
		s = graph.Reshape(s, steps, 1, 1)
	}
	return graph.Mul(n, s)
}

// graphSplitmix64 is splitmix64 on a Uint64 node, element-wise.
func graphSplitmix64(z *Node) *Node {
	g := z.Graph()
	z = graph.Mul(graph.BitwiseXor(z, shiftRight(z, 30)), graph.Const(g, uint64(0xbf58476d1ce4e5b9)))
	z = graph.Mul(graph.BitwiseXor(z, shiftRight(z, 27)), graph.Const(g, uint64(0x94d049bb133111eb)))
	return graph.BitwiseXor(z, shiftRight(z, 31))
}

// shiftRight returns z >> n for a Uint64 node z, 0 < n < 64: a logical
// shift where the backend has one (XLA), else a division by 2ⁿ (GoMLX's
// pure-Go backend has no shift operations). Both give the same bits.
func shiftRight(z *Node, n uint) *Node {
	g := z.Graph()
	if g.Backend().Capabilities().Operations[backends.OpTypeShiftRightLogical] {
		return graph.BitwiseShiftRightLogical(z, graph.Const(g, uint64(n)))
	}
	return graph.Div(z, graph.Const(g, uint64(1)<<n))
}

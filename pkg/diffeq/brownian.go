package diffeq

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Brownian is a reproducible Brownian motion W(t) with shape (batch, m) and
// W(t0) = 0: the increment over an interval depends only on the seed and the
// interval, never on which intervals were asked for before or in which order.
// A backward (adjoint) pass therefore regenerates the forward pass's noise
// without storing it.
//
// Construction: time is cut into cells of equal width h (the largest width ≤
// cellDt that divides [t0, t1]; the cells continue on both sides of [t0, t1],
// so any finite time may be queried). The increment over cell c is
// √h·N(key(seed, c)); inside a cell, W is a Brownian bridge refined
// dyadically: the value at the midpoint of a dyadic sub-interval of length L
// is the mean of its end values plus √(L/4)·N(key(seed, c, level, node)).
// Every normal comes from a counter-based generator (a SplitMix64 hash of the
// key and the element index, turned into a normal by a ziggurat), so W(t) is a
// fixed function of t. Queries on cell boundaries cost one normal vector per
// cell spanned; others descend the bridge to the first dyadic point within
// 2⁻⁴⁰·h of the query time and interpolate linearly below that.
//
// A time within 1e-9·h of a cell boundary is treated as the boundary, so
// steps computed as t0 + k·dt in floating point land on the grid.
//
// Increments of consecutive intervals telescope: W(b)−W(a) plus W(c)−W(b)
// equals W(c)−W(a) up to rounding. A Brownian is safe for concurrent use.
type Brownian struct {
	seed     uint64
	t0, t1   float64
	h        float64
	batch, m int
	dtype    dtypes.DType
	off      uint64 // index of the first element: the view's first row × m
}

// brownianMaxLevel is the depth of the dyadic refinement inside a cell.
const brownianMaxLevel = 40

// maxBrownianCells bounds the cells over [t0, t1] (2²⁸ ≈ 2.7·10⁸): a time's
// position x = (t−t0)/h is snapped to a cell boundary within
// brownianSnap·|x| cells, so from 5·10⁸ cells on every query inside a cell
// would snap to a boundary and the increments between such times vanish.
const maxBrownianCells = 1 << 28

// brownianSnap is the relative distance (in cells) within which a time is
// treated as lying on a cell boundary.
const brownianSnap = 1e-9

// NewBrownian returns a Brownian motion of shape (batch, m) and dtype
// (Float32 or Float64, the dtype of the tensors Increments returns) with
// cells of width at most cellDt over [t0, t1]. Choose cellDt equal to (or a
// multiple of, divided evenly by) the solver's step so that steps fall on
// the grid, the fast path.
func NewBrownian(seed uint64, t0, t1, cellDt float64, batch, m int, dtype dtypes.DType) (*Brownian, error) {
	if err := CheckTimes("[t0, t1]", []float64{t0, t1}); err != nil {
		return nil, fmt.Errorf("diffeq.NewBrownian: %w", err)
	}
	if !(cellDt > 0) || math.IsInf(cellDt, 0) {
		return nil, fmt.Errorf("diffeq.NewBrownian: cellDt must be finite and > 0, got %g", cellDt)
	}
	if batch < 1 || m < 1 {
		return nil, fmt.Errorf("diffeq.NewBrownian: shape (batch, m) must be positive, got (%d, %d)", batch, m)
	}
	if dtype != dtypes.Float32 && dtype != dtypes.Float64 {
		return nil, fmt.Errorf("diffeq.NewBrownian: dtype must be Float32 or Float64, got %s", dtype)
	}
	n, err := StepsIn(t1-t0, cellDt)
	if err != nil {
		return nil, fmt.Errorf("diffeq.NewBrownian: cellDt: %w", err)
	}
	if n > maxBrownianCells {
		return nil, fmt.Errorf("diffeq.NewBrownian: cellDt=%g cuts [%g, %g] into %d cells, more than %d: the cells' positions (t−t0)/h would lose the precision that keeps increments apart (use a cellDt of at least %g)",
			cellDt, t0, t1, n, maxBrownianCells, (t1-t0)/maxBrownianCells)
	}
	h := (t1 - t0) / float64(n)
	if t0+h == t0 || t1-h == t1 {
		return nil, fmt.Errorf("diffeq.NewBrownian: cellDt=%g gives cells of width %g, below the float64 resolution of times in [%g, %g]: every increment would be 0", cellDt, h, t0, t1)
	}
	if dtype == dtypes.Float32 && math.Sqrt(h) < math.SmallestNonzeroFloat32*(1<<23) {
		return nil, fmt.Errorf("diffeq.NewBrownian: cellDt=%g gives cells of width %g whose increments (√h = %g) underflow float32: use Float64 or a larger cellDt", cellDt, h, math.Sqrt(h))
	}
	return &Brownian{seed: seed, t0: t0, t1: t1, h: h, batch: batch, m: m, dtype: dtype}, nil
}

// Rows returns the view of rows [lo, hi) of the batch: a Brownian of shape
// (hi−lo, m) whose increments are exactly those rows of b's. Solvers use it
// to split a batch across goroutines.
func (b *Brownian) Rows(lo, hi int) (*Brownian, error) {
	if lo < 0 || hi > b.batch || lo >= hi {
		return nil, fmt.Errorf("diffeq.Brownian.Rows: want 0 ≤ lo < hi ≤ batch=%d, got [%d, %d)", b.batch, lo, hi)
	}
	v := *b
	v.batch = hi - lo
	v.off = b.off + uint64(lo*b.m)
	return &v, nil
}

// Shape returns (batch, m).
func (b *Brownian) Shape() (batch, m int) { return b.batch, b.m }

// DType returns the dtype of the tensors Increments returns.
func (b *Brownian) DType() dtypes.DType { return b.dtype }

// CellDt returns the width of the grid cells.
func (b *Brownian) CellDt() float64 { return b.h }

// Span returns [t0, t1], the interval the grid was built for.
func (b *Brownian) Span() (t0, t1 float64) { return b.t0, b.t1 }

// Seed returns the seed.
func (b *Brownian) Seed() uint64 { return b.seed }

// Increment returns W(t) − W(s) as batch·m float64s (row-major (batch, m)).
// s > t gives the negative of the increment over [t, s]. It panics if s or t
// is not finite.
func (b *Brownian) Increment(s, t float64) []float64 {
	out := make([]float64, b.batch*b.m)
	b.incrementInto(out, s, t, make([]float64, 4*len(out)))
	return out
}

// Increments returns the K consecutive increments W(times[k+1]) − W(times[k])
// as one (K, batch, m) tensor of the Brownian's dtype, K = len(times)−1. This
// is the fast path for a solver's chunk of steps; the work is spread over
// the available CPUs. It panics if a time is not finite or len(times) < 2.
func (b *Brownian) Increments(times []float64) *tensors.Tensor {
	if len(times) < 2 {
		panic(fmt.Sprintf("diffeq.Brownian.Increments: need at least 2 times, got %d", len(times)))
	}
	k := len(times) - 1
	n := b.batch * b.m
	if b.dtype == dtypes.Float32 {
		data := make([]float32, k*n)
		b.parallelSteps(times, func(i int, buf, scratch []float64) {
			b.incrementInto(buf, times[i], times[i+1], scratch)
			dst := data[i*n : (i+1)*n]
			for j, v := range buf {
				dst[j] = float32(v)
			}
		})
		return tensors.FromFlatDataAndDimensions(data, k, b.batch, b.m)
	}
	data := make([]float64, k*n)
	b.parallelSteps(times, func(i int, _, scratch []float64) {
		b.incrementInto(data[i*n:(i+1)*n], times[i], times[i+1], scratch)
	})
	return tensors.FromFlatDataAndDimensions(data, k, b.batch, b.m)
}

// parallelSteps runs fn for every step i of times over a few goroutines,
// each with its own buffer (batch·m) and scratch space.
func (b *Brownian) parallelSteps(times []float64, fn func(i int, buf, scratch []float64)) {
	k := len(times) - 1
	n := b.batch * b.m
	workers := min(runtime.GOMAXPROCS(0), k)
	if k*n < 1<<14 {
		workers = 1
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			buf, scratch := make([]float64, n), make([]float64, 4*n)
			for i := w; i < k; i += workers {
				fn(i, buf, scratch)
			}
		}(w)
	}
	wg.Wait()
}

// locate returns the cell of t and t's position in it as a fraction in
// [0, 1); positions within brownianSnap of a boundary are snapped to it.
func (b *Brownian) locate(t float64) (cell int64, u float64) {
	if math.IsNaN(t) || math.IsInf(t, 0) {
		panic(fmt.Sprintf("diffeq.Brownian: time %g is not finite", t))
	}
	x := (t - b.t0) / b.h
	r := math.Round(x)
	if math.Abs(x-r) <= brownianSnap*math.Max(1, math.Abs(x)) {
		return int64(r), 0
	}
	f := math.Floor(x)
	return int64(f), x - f
}

// incrementInto writes W(t) − W(s) into out; scratch holds 4·len(out) values.
func (b *Brownian) incrementInto(out []float64, s, t float64, scratch []float64) {
	if s > t {
		b.incrementInto(out, t, s, scratch)
		for i := range out {
			out[i] = -out[i]
		}
		return
	}
	cs, us := b.locate(s)
	ct, ut := b.locate(t)
	n := len(out)
	tmp := scratch[:n]
	clear(out)
	if cs == ct {
		if us == ut {
			return
		}
		b.bridge(out, cs, ut, scratch[n:])
		b.bridge(tmp, cs, us, scratch[n:])
		for i := range out {
			out[i] -= tmp[i]
		}
		return
	}
	// Rest of s's cell, whole cells in between, start of t's cell.
	c := cs
	if us > 0 {
		b.cellIncrement(out, cs)
		b.bridge(tmp, cs, us, scratch[n:])
		for i := range out {
			out[i] -= tmp[i]
		}
		c++
	}
	for ; c < ct; c++ {
		b.cellIncrement(tmp, c)
		for i := range out {
			out[i] += tmp[i]
		}
	}
	if ut > 0 {
		b.bridge(tmp, ct, ut, scratch[n:])
		for i := range out {
			out[i] += tmp[i]
		}
	}
}

// cellIncrement writes W over cell c into out.
func (b *Brownian) cellIncrement(out []float64, c int64) {
	fillNormals(out, nodeKey(b.seed, uint64(c), 0, 0), math.Sqrt(b.h), b.off)
}

// bridge writes W(start of cell c + u·h) − W(start of cell c) into out, for
// u in [0, 1). scratch holds 3·len(out) values.
func (b *Brownian) bridge(out []float64, c int64, u float64, scratch []float64) {
	n := len(out)
	if u == 0 {
		clear(out)
		return
	}
	left, right, z := scratch[:n], scratch[n:2*n], scratch[2*n:3*n]
	clear(left)
	b.cellIncrement(right, c)
	lo, hi := 0.0, 1.0
	var node uint64 = 1 // index of the midpoint at this level: (2j+1)/2^level
	for level := 1; level <= brownianMaxLevel; level++ {
		mid := 0.5 * (lo + hi)
		fillNormals(z, nodeKey(b.seed, uint64(c), uint64(level), node), math.Sqrt((hi-lo)*b.h/4), b.off)
		for i := range z {
			z[i] += 0.5 * (left[i] + right[i])
		}
		if math.Abs(u-mid) <= 1e-12 {
			copy(out, z)
			return
		}
		if u < mid {
			hi, right, z = mid, z, right
			node = 2*node - 1
		} else {
			lo, left, z = mid, z, left
			node = 2*node + 1
		}
	}
	w := (u - lo) / (hi - lo)
	for i := range out {
		out[i] = left[i] + w*(right[i]-left[i])
	}
}

// splitmix64 is the SplitMix64 finaliser, a bijective 64-bit mixer.
func splitmix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

const golden = 0x9e3779b97f4a7c15

// nodeKey hashes (seed, cell, level, node) into the key of one normal vector.
func nodeKey(seed, cell, level, node uint64) uint64 {
	k := splitmix64(seed + golden)
	k = splitmix64(k ^ (cell + 0x632be59bd9b4e019))
	k = splitmix64(k ^ (level*golden + 0x8cb92ba72f3d8dd7))
	return splitmix64(k ^ (node + 0x2545f4914f6cdd1d))
}

// Ziggurat tables (Marsaglia & Tsang 2000) for the standard normal with 128
// layers of area zigV: zigX[0] = zigV/f(zigR) is the base layer's virtual
// width, zigX[1] = zigR, zigX[i+1] = f⁻¹(f(zigX[i]) + zigV/zigX[i]), zigX[128]
// = 0, with f(x) = exp(−x²/2); zigF[i] = f(zigX[i]).
const (
	zigR = 3.442619855899
	zigV = 9.91256303526217e-3
)

var zigX, zigF = zigTables()

func zigTables() (x, f [129]float64) {
	fn := func(v float64) float64 { return math.Exp(-0.5 * v * v) }
	x[0], x[1] = zigV/fn(zigR), zigR
	for i := 1; i < 127; i++ {
		x[i+1] = math.Sqrt(-2 * math.Log(fn(x[i])+zigV/x[i]))
	}
	x[128] = 0
	for i := range x {
		f[i] = fn(x[i])
	}
	return
}

// normalFromHash returns a standard normal from the 64-bit hash h; when the
// ziggurat rejects, it draws further values from the SplitMix64 chain of h,
// so the result depends only on h.
func normalFromHash(h uint64) float64 {
	const inv53 = 1.0 / (1 << 53)
	for {
		i := h & 127
		u := 2*float64(h>>11)*inv53 - 1 // [−1, 1)
		x := u * zigX[i]
		if math.Abs(x) < zigX[i+1] {
			return x
		}
		h = splitmix64(h + golden)
		if i == 0 {
			// Tail beyond zigR (Marsaglia 1964).
			for {
				u1 := float64(h>>11+1) * inv53
				h = splitmix64(h + golden)
				u2 := float64(h>>11+1) * inv53
				h = splitmix64(h + golden)
				t := -math.Log(u1) / zigR
				if -2*math.Log(u2) >= t*t {
					return math.Copysign(zigR+t, u)
				}
			}
		}
		y := zigF[i] + float64(h>>11)*inv53*(zigF[i+1]-zigF[i])
		if y < math.Exp(-0.5*x*x) {
			return x
		}
		h = splitmix64(h + golden)
	}
}

// fillNormals writes scale·N_{off+i} into out[i], where N_j are standard
// normals that depend only on key and j (a ziggurat on the SplitMix64
// stream of key).
func fillNormals(out []float64, key uint64, scale float64, off uint64) {
	for i := range out {
		out[i] = scale * normalFromHash(splitmix64(key+(off+uint64(i)+1)*golden))
	}
}

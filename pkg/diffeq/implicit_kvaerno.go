package diffeq

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Kværnø (2004), "Singly diagonally implicit Runge–Kutta methods with an
// explicit first stage", BIT 44, 489–502: the 5(4) ESDIRK pair. Stage 1 is
// explicit; stages 2 … 7 solve zᵢ = z + h·Σⱼ<ᵢ aᵢⱼkⱼ + h·γ·f(t + cᵢh, zᵢ).
// Both the fifth-order solution (stage 7) and the embedded fourth-order one
// (stage 6) are stiffly accurate, so the error estimate is z₇ − z₆ and the
// method is L-stable.
const kvaernoGamma = 0.26

var (
	kvaernoC = [7]float64{0, 0.52, 1.230333209967908, 0.8957659843500759, 0.43639360985864756, 1, 1}
	kvaernoA = [7][]float64{
		{},
		{kvaernoGamma},
		{0.13, 0.84033320996790809},
		{0.22371961478320505, 0.47675532319799699, -0.06470895363112615},
		{0.16648564323248321, 0.10450018841591720, 0.03631482272098715, -0.13090704451073998},
		{0.13855640231268224, 0, -0.04245337201752043, 0.02446657898003141, 0.61943039072480676},
		{0.13659751177640291, 0, -0.05496908796538376, -0.04118626728321046, 0.62993304899016403, 0.06962479448202728},
	}
)

// Newton settings: at most kvaernoMaxIter simplified Newton iterations per
// stage; converged when the estimated remaining error is below
// kvaernoKappa in the tolerance-scaled RMS norm (1 = the tolerance).
const (
	kvaernoMaxIter = 10
	kvaernoKappa   = 0.01
)

// rowJacobian builds f(t, z) (batch, d) and its Jacobian per batch row
// (batch, d, d), J[b, i, j] = ∂fᵢ/∂zⱼ at row b, by one reverse-mode pass per
// output component. f must act row by row.
func rowJacobian(ctx *context.Context, f Func, t, z *Node) []*Node {
	ctx = ctx.Checked(false)
	out := f(ctx, t, z)
	batch, d := z.Shape().Dim(0), z.Shape().Dim(1)
	rows := make([]*Node, d)
	for i := range d {
		onehot := make([]float64, d)
		onehot[i] = 1
		sel := graph.ConvertDType(graph.Const(z.Graph(), [][]float64{onehot}), z.DType())
		g := graph.Gradient(graph.ReduceAllSum(graph.Mul(out, sel)), z)[0]
		rows[i] = graph.Reshape(g, batch, 1, d)
	}
	jac := rows[0]
	if d > 1 {
		jac = graph.Concatenate(rows, 1)
	}
	return []*Node{out, jac}
}

// newtonMatrix holds the LU factors of I − hγJ for each batch row.
type newtonMatrix struct {
	d    int
	lu   [][]float64 // per row: d×d, row-major, L below the diagonal (unit), U on and above
	perm [][]int
}

// factor returns the LU factors (partial pivoting) of I − hg·J for every row
// of jac (batch·d·d values), or an error naming the row if one is singular.
func factor(jac []float64, batch, d int, hg float64) (*newtonMatrix, error) {
	m := &newtonMatrix{d: d, lu: make([][]float64, batch), perm: make([][]int, batch)}
	for b := range batch {
		a := make([]float64, d*d)
		for i := range d {
			for j := range d {
				a[i*d+j] = -hg * jac[b*d*d+i*d+j]
			}
			a[i*d+i] += 1
		}
		p := make([]int, d)
		for i := range p {
			p[i] = i
		}
		for k := range d {
			piv := k
			for i := k + 1; i < d; i++ {
				if math.Abs(a[i*d+k]) > math.Abs(a[piv*d+k]) {
					piv = i
				}
			}
			if a[piv*d+k] == 0 || math.IsNaN(a[piv*d+k]) {
				return nil, fmt.Errorf("the Newton matrix I − hγJ of batch row %d is singular or not finite", b)
			}
			if piv != k {
				for j := range d {
					a[k*d+j], a[piv*d+j] = a[piv*d+j], a[k*d+j]
				}
				p[k], p[piv] = p[piv], p[k]
			}
			for i := k + 1; i < d; i++ {
				l := a[i*d+k] / a[k*d+k]
				a[i*d+k] = l
				for j := k + 1; j < d; j++ {
					a[i*d+j] -= l * a[k*d+j]
				}
			}
		}
		m.lu[b], m.perm[b] = a, p
	}
	return m, nil
}

// solve overwrites x (batch·d values) with (I − hγJ)⁻¹x row by row.
func (m *newtonMatrix) solve(x []float64) {
	d := m.d
	y := make([]float64, d)
	for b, a := range m.lu {
		r := x[b*d : (b+1)*d]
		for i, pi := range m.perm[b] {
			y[i] = r[pi]
		}
		for i := range d {
			for j := range i {
				y[i] -= a[i*d+j] * y[j]
			}
		}
		for i := d - 1; i >= 0; i-- {
			for j := i + 1; j < d; j++ {
				y[i] -= a[i*d+j] * y[j]
			}
			y[i] /= a[i*d+i]
		}
		copy(r, y)
	}
}

// implicitCache holds f and its Jacobian at the current accepted state.
type implicitCache struct {
	z   *tensors.Tensor
	f   *tensors.Tensor
	jac []float64
}

// jacobianAt returns f(t, z) and its per-row Jacobian, counting one
// evaluation and one Jacobian.
func (s *ODESolver) jacobianAt(t float64, z *tensors.Tensor) (*implicitCache, error) {
	out, err := s.jac.Exec(ScalarTensor(z.DType(), t), z)
	if err != nil {
		return nil, fmt.Errorf("diffeq.Solve: Jacobian of f at t=%g: %w", t, err)
	}
	s.nfe++
	s.jacobians++
	jv, err := Float64s(out[1])
	if err != nil {
		return nil, err
	}
	return &implicitCache{z: z, f: out[0], jac: jv}, nil
}

// tryImplicit attempts one Kvaerno5 step of size h from (t, z): each
// implicit stage is solved by simplified Newton iterations with the
// Jacobian at (t, z). On success it also evaluates f and the Jacobian at the
// new state (the next step's), when the step is accepted.
func (s *ODESolver) tryImplicit(t, h float64, z, k1 *tensors.Tensor) (*attempt, error) {
	opts := s.opts.withDefaults(1)
	if s.implicit == nil || s.implicit.z != z {
		c, err := s.jacobianAt(t, z)
		if err != nil {
			return nil, err
		}
		s.implicit = c
	}
	dims := z.Shape().Dimensions
	batch, d := dims[0], dims[1]
	n := batch * d
	dtype := z.DType()
	zv, err := Float64s(z)
	if err != nil {
		return nil, err
	}
	hg := h * kvaernoGamma
	lu, err := factor(s.implicit.jac, batch, d, hg)
	if err != nil {
		return &attempt{failed: err.Error()}, nil
	}
	ks := make([][]float64, 7)
	if ks[0], err = Float64s(k1); err != nil {
		return nil, err
	}
	scale := make([]float64, n)
	for i, v := range zv {
		scale[i] = opts.ATol + opts.RTol*math.Abs(v)
	}
	norm := func(x []float64) float64 {
		var acc float64
		for i, v := range x {
			r := v / scale[i]
			acc += r * r
		}
		return math.Sqrt(acc / float64(n))
	}
	stages := make([][]float64, 7)
	stages[0] = zv
	for i := 1; i < 7; i++ {
		base := append([]float64(nil), zv...)
		for j, a := range kvaernoA[i][:i] {
			if a == 0 {
				continue
			}
			for q := range base {
				base[q] += h * a * ks[j][q]
			}
		}
		// Start from the line through z and the previous stage, extended to cᵢ.
		zi := append([]float64(nil), stages[i-1]...)
		if i > 1 {
			r := kvaernoC[i] / kvaernoC[i-1]
			for q := range zi {
				zi[q] = zv[q] + r*(zi[q]-zv[q])
			}
		}
		ti := t + kvaernoC[i]*h
		prev, converged := 0.0, false
		for it := 0; it < kvaernoMaxIter; it++ {
			fx, err := s.Eval(ti, FromFloat64s(dtype, zi, dims...))
			if err != nil {
				return nil, err
			}
			fv, err := Float64s(fx)
			if err != nil {
				return nil, err
			}
			delta := make([]float64, n)
			for q := range delta {
				delta[q] = base[q] + hg*fv[q] - zi[q]
			}
			lu.solve(delta)
			for q := range zi {
				zi[q] += delta[q]
			}
			nd := norm(delta)
			if math.IsNaN(nd) || math.IsInf(nd, 0) {
				return &attempt{ratio: math.NaN()}, nil
			}
			if nd <= kvaernoKappa*1e-2 {
				converged = true
				break
			}
			if it > 0 {
				theta := nd / prev
				if theta >= 1 {
					if it >= 2 {
						break // diverging
					}
					prev = nd
					continue
				}
				if theta/(1-theta)*nd <= kvaernoKappa {
					converged = true
					break
				}
			}
			prev = nd
		}
		if !converged {
			return &attempt{failed: fmt.Sprintf("Newton iterations of stage %d did not converge", i+1)}, nil
		}
		stages[i] = zi
		ks[i] = make([]float64, n)
		for q := range zi {
			ks[i][q] = (zi[q] - base[q]) / hg
		}
	}
	zNew := stages[6]
	errv := make([]float64, n)
	for q := range errv {
		errv[q] = zNew[q] - stages[5][q]
		scale[q] = opts.ATol + opts.RTol*math.Max(math.Abs(zv[q]), math.Abs(zNew[q]))
	}
	ratio := norm(errv)
	a := &attempt{zNext: FromFloat64s(dtype, zNew, dims...), ratio: ratio}
	if ratio <= 1 {
		c, err := s.jacobianAt(t+h, a.zNext)
		if err != nil {
			return nil, err
		}
		fv, err := Float64s(c.f)
		if err != nil {
			return nil, err
		}
		if !finiteF64(fv) {
			return &attempt{ratio: math.NaN()}, nil
		}
		s.implicit = c
		a.kNext = c.f
	}
	return a, nil
}

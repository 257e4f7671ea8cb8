package spirals

import (
	"math"
	"math/rand/v2"
	"testing"
)

// expmTaylor sums the series Σ (Wt)^k / k! (ground truth for Expm2).
func expmTaylor(w [4]float64, t float64) [4]float64 {
	out := [4]float64{1, 0, 0, 1}
	term := out
	for k := 1; k < 80; k++ {
		a := [4]float64{w[0] * t, w[1] * t, w[2] * t, w[3] * t}
		term = [4]float64{
			(term[0]*a[0] + term[1]*a[2]) / float64(k), (term[0]*a[1] + term[1]*a[3]) / float64(k),
			(term[2]*a[0] + term[3]*a[2]) / float64(k), (term[2]*a[1] + term[3]*a[3]) / float64(k),
		}
		for i := range out {
			out[i] += term[i]
		}
	}
	return out
}

func TestExpm2MatchesTaylorSeries(t *testing.T) {
	cases := [][4]float64{
		{-0.1, -1, 1, -0.1},      // rotation, equal diagonal
		{-0.07, 0.8, -1.3, -0.2}, // clockwise spiral, unequal diagonal
		{-0.15, -0.3, 0.9, -0.06},
		{-0.5, 0.01, -0.02, 0.3}, // real eigenvalues (δ > 0)
		{-0.2, 1, 0, -0.2},       // δ = 0 (Jordan block)
	}
	for _, w := range cases {
		for _, tt := range []float64{0, 0.3, 2.5, 7} {
			got, want := Expm2(w, tt), expmTaylor(w, tt)
			for i := range got {
				if math.Abs(got[i]-want[i]) > 1e-10*(1+math.Abs(want[i])) {
					t.Fatalf("Expm2(%v, %g)[%d] = %.15g, Taylor series %.15g", w, tt, i, got[i], want[i])
				}
			}
		}
	}
}

// rk4 integrates dx/dt = W x with n steps per interval of ts (an independent
// check of the closed-form trajectories).
func rk4(w [4]float64, x0 [2]float64, ts []float64, n int) []float64 {
	f := func(x [2]float64) [2]float64 { return [2]float64{w[0]*x[0] + w[1]*x[1], w[2]*x[0] + w[3]*x[1]} }
	add := func(x, k [2]float64, h float64) [2]float64 { return [2]float64{x[0] + h*k[0], x[1] + h*k[1]} }
	out := []float64{x0[0], x0[1]}
	x := x0
	for j := 1; j < len(ts); j++ {
		h := (ts[j] - ts[j-1]) / float64(n)
		for range n {
			k1 := f(x)
			k2 := f(add(x, k1, h/2))
			k3 := f(add(x, k2, h/2))
			k4 := f(add(x, k3, h))
			x = [2]float64{x[0] + h/6*(k1[0]+2*k2[0]+2*k3[0]+k4[0]), x[1] + h/6*(k1[1]+2*k2[1]+2*k3[1]+k4[1])}
		}
		out = append(out, x[0], x[1])
	}
	return out
}

func TestGenerateFollowsDynamics(t *testing.T) {
	d, err := Generate(Config{N: 40, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Ts) != 200 || math.Abs(d.Ts[199]-6.29*5) > 1e-12 || d.Ts[0] != 0 {
		t.Fatalf("time grid: %d points, last %g", len(d.Ts), d.Ts[len(d.Ts)-1])
	}
	for i := 0; i < d.Len(); i++ {
		w := d.W[i]
		if w[0] > -0.05 || w[3] > -0.05 {
			t.Fatalf("spiral %d: diagonal %v must be ≤ −0.05", i, w)
		}
		cw := i < d.Len()/2
		if d.Clockwise[i] != cw || (cw && (w[1] < 0 || w[2] > 0)) || (!cw && (w[1] > 0 || w[2] < 0)) {
			t.Fatalf("spiral %d: clockwise=%v but W=%v", i, d.Clockwise[i], w)
		}
		if d.Clean[i][0] != d.X0[i][0] || d.Clean[i][1] != d.X0[i][1] {
			t.Fatalf("spiral %d does not start at x0", i)
		}
		ref := rk4(w, d.X0[i], d.Ts, 50)
		for k, v := range d.Clean[i] {
			if math.Abs(v-ref[k]) > 1e-8 {
				t.Fatalf("spiral %d value %d: closed form %g, RK4 %g", i, k, v, ref[k])
			}
		}
	}
	// Clockwise: the angle decreases (cross product x × dx/dt < 0).
	for i := 0; i < d.Len(); i++ {
		x, y := d.X0[i][0], d.X0[i][1]
		w := d.W[i]
		cross := x*(w[2]*x+w[3]*y) - y*(w[0]*x+w[1]*y)
		if d.Clockwise[i] && cross > 0.3*(x*x+y*y) {
			t.Fatalf("clockwise spiral %d turns counter-clockwise at x0 (cross %g)", i, cross)
		}
	}
}

func TestGenerateNoiseStd(t *testing.T) {
	d, err := Generate(Config{N: 200, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var s2 float64
	var n int
	for i := range d.Obs {
		for k := range d.Obs[i] {
			r := d.Obs[i][k] - d.Clean[i][k]
			s2 += r * r
			n++
		}
	}
	// 80000 draws: the sample std is within 1% of 0.02 with overwhelming probability.
	if std := math.Sqrt(s2 / float64(n)); math.Abs(std-0.02) > 0.0002 {
		t.Fatalf("noise std %g, want 0.02", std)
	}
	d2, _ := Generate(Config{N: 200, Seed: 1})
	if d2.Obs[17][33] != d.Obs[17][33] {
		t.Fatal("same seed gave different data")
	}
}

func TestSample(t *testing.T) {
	d, err := Generate(Config{N: 50, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	b, err := d.Sample(rng, 64, SampleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if b.Size != 64 || b.Len != 100 || len(b.Obs) != 64*100*2 || len(b.Mask) != 6400 {
		t.Fatalf("batch shape: size %d len %d", b.Size, b.Len)
	}
	dt := d.Ts[1] - d.Ts[0]
	seen := map[int]bool{}
	for s := 0; s < b.Size; s++ {
		m := b.Mask[s*b.Len : (s+1)*b.Len]
		cnt := 0
		last := -1
		for j, v := range m {
			if v == 1 {
				cnt++
				k := b.Start[s] + j
				p := s*b.Len + j
				if b.Obs[2*p] != d.Obs[b.Index[s]][2*k] || b.Obs[2*p+1] != d.Obs[b.Index[s]][2*k+1] {
					t.Fatalf("sample %d grid %d: observation mismatch", s, j)
				}
				if math.Abs(b.Clean[2*p]-d.Clean[b.Index[s]][2*k]) > 1e-12 {
					t.Fatalf("sample %d grid %d: clean mismatch", s, j)
				}
				if last >= 0 && math.Abs(b.Gaps[s*b.Len+last]-float64(j-last)*dt) > 1e-12 {
					t.Fatalf("sample %d: gap at %d is %g, want %g", s, last, b.Gaps[s*b.Len+last], float64(j-last)*dt)
				}
				last = j
			} else if b.Obs[2*(s*b.Len+j)] != 0 || b.Gaps[s*b.Len+j] != 0 {
				t.Fatalf("sample %d grid %d: unobserved point has data", s, j)
			}
		}
		if m[0] != 1 || b.Gaps[s*b.Len+last] != 0 || cnt != b.Kept[s] {
			t.Fatalf("sample %d: first point observed %v, last gap %g, count %d vs %d", s, m[0], b.Gaps[s*b.Len+last], cnt, b.Kept[s])
		}
		if cnt != 30 && cnt != 50 && cnt != 100 {
			t.Fatalf("sample %d keeps %d points", s, cnt)
		}
		seen[cnt] = true
		if b.Start[s]+100 > 200+100 || b.Start[s] < 0 {
			t.Fatalf("sample %d: start %d", s, b.Start[s])
		}
	}
	if len(seen) != 3 {
		t.Fatalf("64 samples should use all of 30, 50, 100 kept points; saw %v", seen)
	}
	// Clean past the data's end (Start+99 may exceed 199) follows the closed form.
	p, err := d.Prefix([]int{4}, 50, 300)
	if err != nil {
		t.Fatal(err)
	}
	want := Trajectory(d.W[4], d.X0[4], []float64{299 * dt})
	if math.Abs(p.Clean[2*299]-want[0]) > 1e-12 || p.Mask[49] != 1 || p.Mask[50] != 0 {
		t.Fatal("Prefix: wrong clean extension or mask")
	}
}

func TestErrors(t *testing.T) {
	if _, err := Generate(Config{N: -1}); err == nil {
		t.Error("N=-1 accepted")
	}
	if _, err := Generate(Config{TMax: math.NaN()}); err == nil {
		t.Error("NaN TMax accepted")
	}
	d, _ := Generate(Config{N: 4, Points: 20})
	rng := rand.New(rand.NewPCG(1, 1))
	if _, err := d.Sample(rng, 2, SampleOptions{Span: 100}); err == nil {
		t.Error("Span > Points accepted")
	}
	if _, err := d.Batch([]int{0}, [][]int{{3, 2}}, 10); err == nil {
		t.Error("unsorted kept accepted")
	}
	if _, _, err := d.Split(1.5); err == nil {
		t.Error("heldOutFrac 1.5 accepted")
	}
}

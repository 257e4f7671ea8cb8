package latentsde

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

func run1(t *testing.T, fn func(in []*Node) *Node, args ...any) []float64 {
	t.Helper()
	out, err := graph.ExecOnce(testBackend(), fn, args...)
	if err != nil {
		t.Fatal(err)
	}
	return tensors.MustCopyFlatData[float64](out)
}

func near(t *testing.T, name string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values, want %d", name, len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > tol*math.Max(1, math.Abs(want[i])) {
			t.Errorf("%s[%d] = %.12g, want %.12g", name, i, got[i], want[i])
		}
	}
}

func TestGaussianKL(t *testing.T) {
	qm := [][]float64{{0.3, -1}, {2, 0}}
	ql := [][]float64{{-0.5, 0.2}, {0, 1}}
	pm := [][]float64{{0, 0.5}, {1, 1}}
	pl := [][]float64{{0.1, -0.3}, {0, 0}}
	want := make([]float64, 2)
	for b := range want {
		for i := range 2 {
			qv, pv := math.Exp(ql[b][i]), math.Exp(pl[b][i])
			want[b] += 0.5 * (math.Log(pv/qv) + (qv+(qm[b][i]-pm[b][i])*(qm[b][i]-pm[b][i]))/pv - 1)
		}
	}
	got := run1(t, func(in []*Node) *Node { return GaussianKL(in[0], in[1], in[2], in[3]) }, qm, ql, pm, pl)
	near(t, "GaussianKL", got, want, 1e-12)
	// KL of a distribution with itself is 0; KL(N(1,1)‖N(0,1)) = ½.
	got = run1(t, func(in []*Node) *Node { return StandardNormalKL(in[0], in[1]) }, [][]float64{{0}, {1}}, [][]float64{{0}, {0}})
	near(t, "StandardNormalKL", got, []float64{0, 0.5}, 1e-12)
}

func TestLikelihoodsWithMasks(t *testing.T) {
	// batch 2, time 3, dim 1; the second sample misses its middle observation.
	x := [][][]float64{{{0.5}, {1}, {-2}}, {{0}, {99}, {1}}}
	mu := [][][]float64{{{0}, {1.5}, {-1}}, {{0.2}, {0}, {0}}}
	mask := [][][]float64{{{1}, {1}, {1}}, {{1}, {0}, {1}}}
	s := 0.7
	gauss := func(x, m float64) float64 { return -0.5*((x-m)/s)*((x-m)/s) - math.Log(s) - 0.5*math.Log(2*math.Pi) }
	lap := func(x, m float64) float64 { return -math.Abs(x-m)/s - math.Log(2*s) }
	for _, c := range []struct {
		name string
		lik  Likelihood
		f    func(x, m float64) float64
	}{{"gaussian", Gaussian, gauss}, {"laplace", Laplace, lap}} {
		want := make([]float64, 2)
		for b := range 2 {
			for k := range 3 {
				want[b] += mask[b][k][0] * c.f(x[b][k][0], mu[b][k][0])
			}
		}
		got := run1(t, func(in []*Node) *Node {
			ll, err := c.lik.LogLikelihood(in[0], in[1], graph.Scalar(in[0].Graph(), in[0].DType(), s), in[2])
			if err != nil {
				panic(err)
			}
			return ll
		}, x, mu, mask)
		near(t, c.name, got, want, 1e-12)
	}
	if _, err := Likelihood("poisson").LogLikelihood(nil, nil, nil, nil); err == nil {
		t.Error("unknown likelihood: want an error")
	}
}

func TestELBO(t *testing.T) {
	out, err := graph.MustNewExec(testBackend(), func(ll, kl, w *Node) []*Node {
		e := ELBO(ll, kl, w)
		return []*Node{e.LogLik, e.KL, e.Loss}
	}).Exec([]float64{-1, -3}, []float64{0.5, 1.5}, 0.25)
	if err != nil {
		t.Fatal(err)
	}
	var got []float64
	for _, o := range out {
		got = append(got, o.Value().(float64))
	}
	near(t, "ELBO", got, []float64{-2, 1, 2 + 0.25}, 1e-12)
}

func TestKLSchedules(t *testing.T) {
	cases := []struct {
		s     KLSchedule
		steps []int
		want  []float64
	}{
		{ConstantKL(0.3), []int{0, 1000}, []float64{0.3, 0.3}},
		{LinearWarmup{Max: 1, Steps: 100}, []int{0, 25, 50, 100, 500}, []float64{0, 0.25, 0.5, 1, 1}},
		{LinearWarmup{Start: 0.1, Max: 0.5, Steps: 4}, []int{0, 2, 4}, []float64{0.1, 0.3, 0.5}},
		// Period 100, 2 cycles, ratio 0.5: 0 → 1 over 50 steps, then 1; restart at 100; 1 after 200.
		{Cyclical{Period: 100, Cycles: 2, Ratio: 0.5, Max: 1}, []int{0, 25, 50, 99, 100, 110, 175, 200, 250}, []float64{0, 0.5, 1, 1, 0, 0.2, 1, 1, 1}},
	}
	for _, c := range cases {
		for i, s := range c.steps {
			if got := c.s.Weight(s); math.Abs(got-c.want[i]) > 1e-12 {
				t.Errorf("%#v.Weight(%d) = %g, want %g", c.s, s, got, c.want[i])
			}
		}
	}
	for in, want := range map[string]KLSchedule{
		"constant:0.5":        ConstantKL(0.5),
		"linear:100":          LinearWarmup{Max: 1, Steps: 100},
		"cyclical:50:4":       Cyclical{Period: 50, Cycles: 4, Ratio: 0.5, Max: 1},
		"cyclical:50:4:0.8:2": Cyclical{Period: 50, Cycles: 4, Ratio: 0.8, Max: 2},
	} {
		got, err := ParseKLSchedule(in)
		if err != nil || got != want {
			t.Errorf("ParseKLSchedule(%q) = %#v, %v; want %#v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "linear", "linear:x", "cyclical:3", "constant:-1", "warm:3"} {
		if _, err := ParseKLSchedule(bad); err == nil {
			t.Errorf("ParseKLSchedule(%q): want an error", bad)
		}
	}
}

package diffeq_test

import (
	"math"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/diffeq"
)

// gbmStratonovich is dX = μX dt + σX∘dW, whose solution driven by W is
// X0·exp(μt + σW(t)).
func gbmStratonovich(mu, sigma float64) diffeq.SDE {
	return diffeq.SDE{Type: diffeq.Stratonovich,
		Drift:     func(_ *context.Context, _, z *graph.Node) *graph.Node { return graph.MulScalar(z, mu) },
		Diffusion: func(_ *context.Context, _, z *graph.Node) *graph.Node { return graph.MulScalar(z, sigma) }}
}

// TestAdaptiveSDEConverges: adaptive Heun and midpoint solves of geometric
// Brownian motion (μ = 0.5, σ = 0.8, 32 paths, T = 1) converge to the exact
// solution driven by the same Brownian path as the tolerance shrinks: the
// mean absolute error at T falls by at least 3x per decade of tolerance
// (the O(h) estimate makes steps ∝ tol, and strong order 1 errors ∝ tol). Rejected steps redraw nothing: they query the same
// path on shorter intervals, which is what makes the limit the same-path
// solution.
func TestAdaptiveSDEConverges(t *testing.T) {
	const mu, sigma, T, n = 0.5, 0.8, 1.0, 32
	bm, err := diffeq.NewBrownian(11, 0, T, 1.0/64, n, 1, dtypes.Float64)
	if err != nil {
		t.Fatal(err)
	}
	wT := bm.Increment(0, T)
	z0 := make([][]float64, n)
	for i := range z0 {
		z0[i] = []float64{1}
	}
	for _, m := range []diffeq.Method{diffeq.Heun, diffeq.SDEMidpoint} {
		prev := math.Inf(1)
		for _, tol := range []float64{1e-2, 1e-3, 1e-4} {
			s, err := diffeq.NewAdaptiveSDESolver(backend.Shared(), context.New(), gbmStratonovich(mu, sigma), diffeq.Options{Method: m, RTol: tol, ATol: tol})
			if err != nil {
				t.Fatal(err)
			}
			sol, err := s.Solve(tensors.FromValue(z0), []float64{0, T / 2, T}, bm)
			if err != nil {
				t.Fatal(err)
			}
			v, _ := diffeq.Float64s(sol.Ys[2])
			var meanErr float64
			for i := range n {
				meanErr += math.Abs(v[i]-math.Exp(mu*T+sigma*wT[i])) / n
			}
			t.Logf("%s tol %g: mean |X_T − exact| %.3g, %d accepted, %d rejected, NFE %d", m, tol, meanErr, sol.Steps, sol.Rejected, sol.NFE)
			if meanErr > prev/3 {
				t.Errorf("%s tol %g: error %.3g, want at most a third of %.3g at 10× the tolerance", m, tol, meanErr, prev)
			}
			if want := 2 * (sol.Steps + sol.Rejected); sol.NFE != want {
				t.Errorf("%s: NFE %d, want 2 evaluations per attempt = %d", m, sol.NFE, want)
			}
			prev = meanErr
		}
		if prev > 5e-4 {
			t.Errorf("%s: error at tol 1e-4 is %.3g, want < 5e-4", m, prev)
		}
	}
}

// TestAdaptiveSDEBadInput: combinations step doubling cannot control, and a
// Brownian motion of the wrong shape or span, are refused naming them.
func TestAdaptiveSDEBadInput(t *testing.T) {
	b := backend.Shared()
	gbm := gbmStratonovich(0.5, 0.8)
	general := gbm
	general.Noise, general.BrownianSize = diffeq.General, 2
	ito := gbm
	ito.Type = diffeq.Ito
	for _, tc := range []struct {
		sde  diffeq.SDE
		m    diffeq.Method
		want string
	}{
		{general, diffeq.Heun, "general noise has strong order 1/2"},
		{ito, diffeq.EulerMaruyama, "with diagonal noise is not supported"},
		{ito, diffeq.Heun, "solves Stratonovich SDEs"},
	} {
		if _, err := diffeq.NewAdaptiveSDESolver(b, nil, tc.sde, diffeq.Options{Method: tc.m}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s with %s noise: error %v, want %q", tc.m, tc.sde.Noise, err, tc.want)
		}
	}
	s, err := diffeq.NewAdaptiveSDESolver(b, nil, gbm, diffeq.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bm, _ := diffeq.NewBrownian(1, 0, 1, 0.1, 3, 1, dtypes.Float64)
	if _, err := s.Solve(tensors.FromValue([][]float64{{1}, {1}}), []float64{0, 1}, bm); err == nil || !strings.Contains(err.Error(), "bm is (3, 1), want (batch, m) = (2, 1)") {
		t.Errorf("Brownian of 3 rows for 2: error %v", err)
	}
	bm2, _ := diffeq.NewBrownian(1, 0, 1, 0.1, 2, 1, dtypes.Float64)
	if _, err := s.Solve(tensors.FromValue([][]float64{{1}, {1}}), []float64{0, 2}, bm2); err == nil || !strings.Contains(err.Error(), "outside bm's span") {
		t.Errorf("times past the Brownian's span: error %v", err)
	}
}

// TestAdaptiveSDEVersusFixed compares, on geometric Brownian motion (μ = 0.5,
// σ = 0.8, T = 1, 24 paths each solved alone so its steps follow its own
// path), adaptive Heun against fixed-step Heun (SDESolver) on the same paths
// with the same mean number of evaluations: the adaptive steps, which shorten
// where the path's increments are large, give at least 2x smaller mean
// errors at equal cost.
func TestAdaptiveSDEVersusFixed(t *testing.T) {
	const mu, sigma, T, n = 0.5, 0.8, 1.0, 24
	b := backend.Shared()
	sde := gbmStratonovich(mu, sigma)
	bm, err := diffeq.NewBrownian(5, 0, T, 1.0/64, n, 1, dtypes.Float64)
	if err != nil {
		t.Fatal(err)
	}
	wT := bm.Increment(0, T)
	for _, tol := range []float64{1e-2, 1e-3} {
		s, err := diffeq.NewAdaptiveSDESolver(b, context.New(), sde, diffeq.Options{Method: diffeq.Heun, RTol: tol, ATol: tol})
		if err != nil {
			t.Fatal(err)
		}
		var errA, nfe float64
		for i := range n {
			row, err := bm.Rows(i, i+1)
			if err != nil {
				t.Fatal(err)
			}
			sol, err := s.Solve(tensors.FromValue([][]float64{{1}}), []float64{0, T}, row)
			if err != nil {
				t.Fatal(err)
			}
			v, _ := diffeq.Float64s(sol.Ys[1])
			errA += math.Abs(v[0]-math.Exp(mu*T+sigma*wT[i])) / n
			nfe += float64(sol.NFE) / n
		}
		steps := int(math.Round(nfe / 2)) // Heun: 2 evaluations per step
		fixed, err := diffeq.NewSDESolver(b, context.New(), sde, diffeq.Options{Method: diffeq.Heun, Dt: T / float64(steps)})
		if err != nil {
			t.Fatal(err)
		}
		z0 := make([][]float64, n)
		for i := range z0 {
			z0[i] = []float64{1}
		}
		sol, err := fixed.Solve(tensors.FromValue(z0), []float64{0, T}, bm)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := diffeq.Float64s(sol.Ys[1])
		var errF float64
		for i := range n {
			errF += math.Abs(v[i]-math.Exp(mu*T+sigma*wT[i])) / n
		}
		t.Logf("tol %g: adaptive mean error %.3g at mean NFE %.0f per path; fixed Heun, %d steps (NFE %d): %.3g", tol, errA, nfe, steps, 2*steps, errF)
		if errA > errF/2 {
			t.Errorf("tol %g: adaptive error %.3g, fixed-step error %.3g at equal cost: want adaptive at most half", tol, errA, errF)
		}
	}
}

// TestAdaptiveEulerMaruyamaAdditive: Ornstein–Uhlenbeck dX = −2X dt + 0.5 dW
// (Ito, additive noise) by adaptive Euler–Maruyama (step doubling) converges
// to the same-path solution (fixed-step Euler–Maruyama with 2^16 steps on
// the same Brownian path, strong order 1 here: error ~1e-5) as the
// tolerance shrinks, 3 evaluations per attempt.
func TestAdaptiveEulerMaruyamaAdditive(t *testing.T) {
	const T, n = 1.0, 16
	b := backend.Shared()
	ou := diffeq.SDE{Noise: diffeq.Additive,
		Drift:     func(_ *context.Context, _, z *graph.Node) *graph.Node { return graph.MulScalar(z, -2) },
		Diffusion: func(_ *context.Context, _, z *graph.Node) *graph.Node { return graph.MulScalar(graph.OnesLike(z), 0.5) }}
	bm, err := diffeq.NewBrownian(3, 0, T, 1.0/64, n, 1, dtypes.Float64)
	if err != nil {
		t.Fatal(err)
	}
	z0 := make([][]float64, n)
	for i := range z0 {
		z0[i] = []float64{1}
	}
	fine, err := diffeq.NewSDESolver(b, context.New(), ou, diffeq.Options{Method: diffeq.EulerMaruyama, Dt: T / 65536})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := fine.Solve(tensors.FromValue(z0), []float64{0, T}, bm)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := diffeq.Float64s(ref.Ys[1])
	prev := math.Inf(1)
	for _, tol := range []float64{1e-2, 1e-3, 1e-4} {
		s, err := diffeq.NewAdaptiveSDESolver(b, context.New(), ou, diffeq.Options{Method: diffeq.EulerMaruyama, RTol: tol, ATol: tol})
		if err != nil {
			t.Fatal(err)
		}
		sol, err := s.Solve(tensors.FromValue(z0), []float64{0, T}, bm)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := diffeq.Float64s(sol.Ys[1])
		var meanErr float64
		for i := range n {
			meanErr += math.Abs(v[i]-want[i]) / n
		}
		t.Logf("tol %g: mean error against the fine same-path solve %.3g, %d accepted, %d rejected, NFE %d", tol, meanErr, sol.Steps, sol.Rejected, sol.NFE)
		if meanErr > prev/3 {
			t.Errorf("tol %g: error %.3g, want at most a third of %.3g at 10× the tolerance", tol, meanErr, prev)
		}
		if want := 3 * (sol.Steps + sol.Rejected); sol.NFE != want {
			t.Errorf("NFE %d, want 3 per attempt = %d", sol.NFE, want)
		}
		prev = meanErr
	}
}

package diffeq_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/diffeq"
)

// fuzzMethods are the methods a fuzz input picks from: every ODE method,
// an SDE method and two that are no method at all.
var fuzzMethods = []diffeq.Method{"", diffeq.Euler, diffeq.Midpoint, diffeq.RK4, diffeq.Dopri5, diffeq.EulerMaruyama, "rk5", "\x00"}

// FuzzSolveOptions checks the validation of a solve's inputs
// (Options.Validate, SDE.Validate, CheckTimes) against what a solve does with
// them:
//   - invalid options, times or SDE fields give an error that names the
//     field (Options.X, SDE.X, ts);
//   - valid ones make a solve of dz/dt = −z succeed, or fail only in the
//     documented ways (ErrMaxSteps, ErrStepUnderflow, ErrNonFinite, a method
//     that is not an ODE method, a Dt whose step count overflows), never
//     panic; a fixed-step RK4 solve with steps ≤ 0.05 matches e^{−t} to 1e-6.
//
// The solve's step budget is capped (MaxSteps ≤ 500) so an input costs
// milliseconds. Run it with
//
//	go test ./pkg/diffeq -run '^$' -fuzz FuzzSolveOptions -fuzztime 2m
func FuzzSolveOptions(f *testing.F) {
	f.Add(uint8(3), 0.1, 0.0, 0.0, 0, 0.0, 0, 0.0, 0.5, 1.0, "diagonal", "ito", 0)
	f.Add(uint8(4), 0.0, 1e-6, 1e-9, 100, 0.0, 4, 0.0, 1.0, 2.0, "general", "ito", 2)
	f.Add(uint8(1), -1.0, 0.0, 0.0, 0, 0.0, 0, 0.0, 1.0, 0.5, "scalar", "stratonovich", 0)
	f.Add(uint8(4), 0.0, 1e-300, 1e-300, 50, 0.0, 0, 0.0, 1.0, 2.0, "additive", "ito", -1)
	f.Add(uint8(2), 1e-300, 0.0, 0.0, 0, 0.0, -3, math.NaN(), 1.0, 2.0, "weird", "other", 1)
	f.Add(uint8(3), math.Inf(1), math.NaN(), -1.0, -5, -1e-9, 16, 0.0, math.Inf(1), 2.0, "", "", 0)
	b := backend.Shared()
	decay := func(_ *context.Context, _, z *graph.Node) *graph.Node { return graph.Neg(z) }
	f.Fuzz(func(t *testing.T, mi uint8, dt, rtol, atol float64, maxSteps int, minDt float64, chunk int,
		t0, t1, t2 float64, noise, typ string, brownian int) {
		opts := diffeq.Options{Method: fuzzMethods[int(mi)%len(fuzzMethods)], Dt: dt, RTol: rtol, ATol: atol,
			MaxSteps: maxSteps, MinDt: minDt, Chunk: chunk % 64}
		ts := []float64{t0, t1, t2}

		// SDE fields: errors name the field; valid ones are accepted.
		sde := diffeq.SDE{Drift: decay, Diffusion: decay, Noise: diffeq.NoiseType(noise), Type: diffeq.SDEType(typ), BrownianSize: brownian}
		if err := sde.Validate(); err != nil {
			if !strings.Contains(err.Error(), "SDE.") {
				t.Fatalf("SDE.Validate error %q names no field", err)
			}
		} else if sde.NoiseSize(2) < 1 {
			t.Fatalf("valid SDE %+v has noise size %d", sde, sde.NoiseSize(2))
		}

		optErr, tsErr := opts.Validate(), diffeq.CheckTimes("ts", ts)
		if optErr != nil && !strings.Contains(optErr.Error(), "Options.") {
			t.Fatalf("Options.Validate error %q names no field", optErr)
		}
		if tsErr != nil && !strings.Contains(tsErr.Error(), "ts") {
			t.Fatalf("CheckTimes error %q does not name ts", tsErr)
		}
		_, newErr := diffeq.NewODESolver(b, nil, decay, opts)
		if optErr != nil {
			if newErr == nil || !strings.Contains(newErr.Error(), "Options.") {
				t.Fatalf("invalid options %+v (%v): NewODESolver error %v", opts, optErr, newErr)
			}
			return
		}
		if newErr != nil {
			if opts.Method.NFEPerStep() == 0 && strings.Contains(newErr.Error(), "Options.Method") {
				return // valid options, but not an ODE method
			}
			t.Fatalf("valid options %+v: NewODESolver: %v", opts, newErr)
		}
		if tsErr != nil {
			return
		}
		// Valid: a solve succeeds or fails only in documented ways.
		opts.MaxSteps = 1 + ((opts.MaxSteps%500)+500)%500
		s, err := diffeq.NewODESolver(b, nil, decay, opts)
		if err != nil {
			t.Fatalf("valid options %+v: %v", opts, err)
		}
		z0 := diffeq.FromFloat64s(dtypes.Float64, []float64{1, -2}, 1, 2)
		sol, err := s.Solve(z0, ts)
		if err != nil {
			if errors.Is(err, diffeq.ErrMaxSteps) || errors.Is(err, diffeq.ErrStepUnderflow) || errors.Is(err, diffeq.ErrNonFinite) ||
				strings.Contains(err.Error(), "Options.Dt") || strings.Contains(err.Error(), "Options.RTol") || strings.Contains(err.Error(), "Options.ATol") {
				return
			}
			t.Fatalf("valid options %+v, ts %v: Solve: %v", opts, ts, err)
		}
		if len(sol.Ys) != len(ts) {
			t.Fatalf("Solve returned %d states for %d times", len(sol.Ys), len(ts))
		}
		got, err := diffeq.Float64s(sol.Ys[2])
		if err != nil {
			t.Fatal(err)
		}
		if err := diffeq.CheckFinite("z", got); err != nil {
			t.Fatalf("valid options %+v, ts %v: Solve succeeded with %v", opts, ts, err)
		}
		m := opts.Method
		if m == "" {
			m = diffeq.RK4
		}
		if m == diffeq.RK4 && opts.Dt > 0 && opts.Dt <= 0.05 && t2-t0 < 100 {
			want := math.Exp(-(t2 - t0))
			if math.Abs(got[0]-want) > 1e-6 || math.Abs(got[1]+2*want) > 2e-6 {
				t.Fatalf("RK4 dt %g over [%g, %g]: z = %v, want (%g, %g)", opts.Dt, t0, t2, got, want, -2*want)
			}
		}
	})
}

package diffeq

import (
	"cmp"
	"errors"
	"fmt"
	"math"
)

// ErrStepUnderflow is returned (wrapped) when an adaptive solver's step falls
// below Options.MinDt: the problem is stiff or has a singularity there.
var ErrStepUnderflow = errors.New("step size underflow")

// ErrNonFinite is returned (wrapped) when a solve produces NaN or Inf; the
// message says at which time and step, and which function produced them.
var ErrNonFinite = errors.New("non-finite values")

// ErrMaxSteps is returned (wrapped) when a solve needs more than
// Options.MaxSteps steps.
var ErrMaxSteps = errors.New("too many steps")

// CheckTimes checks that ts, named name in errors, holds at least two finite,
// strictly increasing times.
func CheckTimes(name string, ts []float64) error {
	if len(ts) < 2 {
		return fmt.Errorf("%s must hold at least 2 times, got %d", name, len(ts))
	}
	for i, t := range ts {
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return fmt.Errorf("%s[%d] is not finite: %g", name, i, t)
		}
		if i > 0 && !(t > ts[i-1]) {
			return fmt.Errorf("%s must be strictly increasing: %s[%d]=%g ≤ %s[%d]=%g", name, name, i, t, name, i-1, ts[i-1])
		}
	}
	return nil
}

// CheckFinite checks that every value of xs, named name in errors, is finite.
func CheckFinite(name string, xs []float64) error {
	for i, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("%s holds a non-finite value %g at flat index %d", name, x, i)
		}
	}
	return nil
}

// withDefaults returns opts with zero fields replaced by their defaults for a
// solve spanning span.
func (o Options) withDefaults(span float64) Options {
	o.RTol = cmp.Or(o.RTol, 1e-6)
	o.ATol = cmp.Or(o.ATol, 1e-9)
	o.MaxSteps = cmp.Or(o.MaxSteps, 100000)
	o.MinDt = cmp.Or(o.MinDt, 1e-12*span)
	o.Chunk = cmp.Or(o.Chunk, 16)
	return o
}

// Validate checks the options' values, naming the field at fault.
func (o Options) Validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"Dt", o.Dt}, {"RTol", o.RTol}, {"ATol", o.ATol}, {"MinDt", o.MinDt}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v < 0 {
			return fmt.Errorf("diffeq: Options.%s must be finite and ≥ 0, got %g", f.name, f.v)
		}
	}
	if o.MaxSteps < 0 {
		return fmt.Errorf("diffeq: Options.MaxSteps must be ≥ 0, got %d", o.MaxSteps)
	}
	if o.Chunk < 0 {
		return fmt.Errorf("diffeq: Options.Chunk must be ≥ 0, got %d", o.Chunk)
	}
	return nil
}

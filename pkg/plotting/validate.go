package plotting

import (
	"fmt"
	"math"
)

// checkFinite returns an error naming the first NaN or infinite entry of v.
func checkFinite(name string, v []float64) error {
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("%s[%d] is %v (values must be finite)", name, i, x)
		}
	}
	return nil
}

// checkSameLen returns an error if len(b) differs from len(a).
func checkSameLen(nameA string, a []float64, nameB string, b []float64) error {
	if len(a) != len(b) {
		return fmt.Errorf("length mismatch: len(%s)=%d but len(%s)=%d", nameA, len(a), nameB, len(b))
	}
	return nil
}

// checkPositive returns an error naming the first entry of v that is not > 0.
func checkPositive(name string, v []float64) error {
	for i, x := range v {
		if !(x > 0) {
			return fmt.Errorf("%s[%d] = %v is not positive (log scale)", name, i, x)
		}
	}
	return nil
}

// checkXY validates a pair of coordinate slices: equal length, non-empty and finite.
func checkXY(nameX string, xs []float64, nameY string, ys []float64) error {
	if err := checkSameLen(nameX, xs, nameY, ys); err != nil {
		return err
	}
	if len(xs) == 0 {
		return fmt.Errorf("%s and %s are empty", nameX, nameY)
	}
	if err := checkFinite(nameX, xs); err != nil {
		return err
	}
	return checkFinite(nameY, ys)
}

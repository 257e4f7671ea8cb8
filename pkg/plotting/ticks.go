package plotting

import (
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
)

// linearTicks places three to seven labelled ticks at multiples of 1, 2, 2.5 or
// 5 times a power of ten, with unlabelled minor ticks between them, and
// formats the labels with as many digits as the spacing needs, so that no
// two labels read the same (gonum's default ticker can print "2.2" twice).
type linearTicks struct{}

// Ticks implements plot.Ticker.
func (linearTicks) Ticks(lo, hi float64) []plot.Tick {
	if math.IsNaN(lo) || math.IsNaN(hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return nil
	}
	if hi < lo {
		lo, hi = hi, lo
	}
	if hi == lo {
		return []plot.Tick{{Value: lo, Label: formatTick(lo, math.Max(math.Abs(lo), 1)/10, 1)}}
	}
	step, mant := niceStep((hi - lo) / 6)
	minor := step / 5
	if mant == 2 {
		minor = step / 4
	}
	var ticks []plot.Tick
	first := math.Ceil(lo/minor-1e-9) * minor
	for i := 0; ; i++ {
		v := first + float64(i)*minor
		if v > hi+minor*1e-9 {
			break
		}
		t := plot.Tick{Value: v}
		if r := v / step; math.Abs(r-math.Round(r)) < 1e-6 {
			t.Value = math.Round(r) * step
			t.Label = formatTick(t.Value, step, mant)
		}
		ticks = append(ticks, t)
	}
	return ticks
}

// niceStep returns the smallest of 1, 2, 2.5, 5 and 10 times a power of
// ten that is at least raw, and its mantissa.
func niceStep(raw float64) (step, mant float64) {
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw*(1-1e-12) {
			if m == 10 {
				return 10 * mag, 1
			}
			return m * mag, m
		}
	}
	return 10 * mag, 1
}

// formatTick formats v, a multiple of step (whose mantissa is mant), with
// the digits that distinguish multiples of step: fixed-point for moderate
// magnitudes, otherwise scientific notation with enough significant digits.
func formatTick(v, step, mant float64) string {
	if v == 0 {
		return "0"
	}
	e := int(math.Floor(math.Log10(step) + 1e-9))
	extra := 0
	if mant == 2.5 {
		extra = 1
	}
	av := math.Abs(v)
	if av >= 1e-4 && av < 1e6 && e > -6 {
		dec := max(0, -e+extra)
		return strconv.FormatFloat(v, 'f', dec, 64)
	}
	sig := int(math.Floor(math.Log10(av)+1e-9)) - e + 1 + extra
	s := strconv.FormatFloat(v, 'e', max(0, sig-1), 64)
	// 1.50e+07 → 1.5e7
	mantissa, exp, _ := strings.Cut(s, "e")
	if strings.Contains(mantissa, ".") {
		mantissa = strings.TrimRight(strings.TrimRight(mantissa, "0"), ".")
	}
	n, _ := strconv.Atoi(exp)
	return mantissa + "e" + strconv.Itoa(n)
}

// logTicks labels powers of ten (and, for ranges of up to 3.5 decades,
// also 2 and 5 times them) on a log axis, and always the axis's two ends
// when they fall on 1, 2 or 5 times a power of ten (as [frameAxis] makes
// them), so that the labels span the data.
type logTicks struct{}

// Ticks implements plot.Ticker.
func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi > 0) {
		return nil
	}
	e0 := int(math.Floor(math.Log10(lo)))
	e1 := int(math.Ceil(math.Log10(hi)))
	few := math.Log10(hi/lo) <= 3.5
	var ticks []plot.Tick
	for e := e0; e <= e1; e++ {
		base := math.Pow10(e)
		for k := 1; k < 10; k++ {
			v := base * float64(k)
			if v < lo*(1-1e-9) || v > hi*(1+1e-9) {
				continue
			}
			t := plot.Tick{Value: v}
			end := math.Abs(v/lo-1) < 1e-9 || math.Abs(v/hi-1) < 1e-9
			if k == 1 || ((few || end) && (k == 2 || k == 5)) {
				t.Label = formatLogTick(v)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// formatLogTick writes a log-axis label: plainly between 1e-4 and 1e5
// ("0.002", "500", "10000"), otherwise as "5e-5" or "2e7".
func formatLogTick(v float64) string {
	if v >= 1e-4 && v < 1e5 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	mantissa, exp, _ := strings.Cut(strconv.FormatFloat(v, 'e', -1, 64), "e")
	n, _ := strconv.Atoi(exp)
	return mantissa + "e" + strconv.Itoa(n)
}

// logMantissas are the values, times a power of ten, that log axes end on:
// 1, 2 and 5 for ranges of up to three decades, powers of ten beyond.
func logMantissas(lo, hi float64) []float64 {
	if hi/lo > 1e3 {
		return []float64{1}
	}
	return []float64{1, 2, 5}
}

// niceLogBelow returns the largest m times a power of ten, m in mants,
// that is at most v (v > 0).
func niceLogBelow(v float64, mants []float64) float64 {
	if !(v > 0) || math.IsInf(v, 0) {
		return v
	}
	base := math.Pow(10, math.Floor(math.Log10(v)))
	best := base / 10 * mants[len(mants)-1]
	for _, k := range mants {
		if k*base <= v*(1+1e-12) {
			best = k * base
		}
	}
	return best
}

// niceLogAbove returns the smallest m times a power of ten, m in mants or
// 10, that is at least v (v > 0).
func niceLogAbove(v float64, mants []float64) float64 {
	if !(v > 0) || math.IsInf(v, 0) {
		return v
	}
	base := math.Pow(10, math.Floor(math.Log10(v)))
	for _, k := range append(mants, 10) {
		if k*base >= v*(1-1e-12) {
			return k * base
		}
	}
	return 10 * base
}

// setLog makes an axis logarithmic, with [logTicks].
func setLog(a *plot.Axis) {
	a.Scale = plot.LogScale{}
	a.Tick.Marker = logTicks{}
}

// linearMargin is the fraction of the data range added at each end of a
// linear axis so that markers at the extremes are not cut by the frame.
const linearMargin = 0.03

// frameAxis sets a's range around the data range it holds: on a log axis
// out to the nearest 1, 2 or 5 times a power of ten (powers of ten only
// beyond three decades), so that a labelled tick lies at or beyond each end
// of the data; on a linear axis with a small margin.
func frameAxis(a *plot.Axis) {
	if math.IsInf(a.Min, 0) || math.IsInf(a.Max, 0) || a.Min > a.Max {
		return
	}
	if isLog(a) {
		m := logMantissas(a.Min, a.Max)
		a.Min, a.Max = niceLogBelow(a.Min, m), niceLogAbove(a.Max, m)
		if a.Min == a.Max {
			a.Min, a.Max = a.Min/2, a.Max*2
		}
		return
	}
	d := a.Max - a.Min
	if d == 0 {
		d = math.Max(math.Abs(a.Min), 1) * 10
	}
	a.Min -= linearMargin * d
	a.Max += linearMargin * d
}

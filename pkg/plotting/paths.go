package plotting

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Band is a shaded region between Lower[i] and Upper[i] at each time, e.g.
// a quantile band from [QuantileBand].
type Band struct {
	// Label is shown in the legend; empty means no legend entry.
	Label string
	// Lower and Upper bound the band at each time.
	Lower, Upper []float64
	// Color is the fill colour (drawn translucent); nil picks one.
	Color color.Color
}

// checkPaths validates paths[j][i] (path j at time i): at least one path,
// all of length n (n < 0 means the length of the first path), finite.
func checkPaths(paths [][]float64, n int) (int, error) {
	if len(paths) == 0 {
		return 0, errors.New("paths is empty")
	}
	if n < 0 {
		n = len(paths[0])
	}
	if n == 0 {
		return 0, errors.New("paths[0] is empty")
	}
	for j, p := range paths {
		if len(p) != n {
			return 0, fmt.Errorf("length mismatch: len(paths[%d])=%d, want %d", j, len(p), n)
		}
		if err := checkFinite(fmt.Sprintf("paths[%d]", j), p); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// Quantiles returns, for each time index i, the q-quantile of
// paths[0][i], paths[1][i], ... (paths[j] is one sample path). It uses
// linear interpolation between order statistics: with the values sorted as
// v[0] <= ... <= v[m-1], the quantile is v[k] + f·(v[k+1]-v[k]) where
// k+f = q·(m-1) (the "type 7" definition, NumPy's default).
func Quantiles(paths [][]float64, q float64) ([]float64, error) {
	if !(q >= 0 && q <= 1) {
		return nil, fmt.Errorf("plotting.Quantiles: q=%v must be in [0, 1]", q)
	}
	n, err := checkPaths(paths, -1)
	if err != nil {
		return nil, fmt.Errorf("plotting.Quantiles: %w", err)
	}
	m := len(paths)
	col := make([]float64, m)
	out := make([]float64, n)
	for i := range out {
		for j := range paths {
			col[j] = paths[j][i]
		}
		slices.Sort(col)
		h := q * float64(m-1)
		k := int(math.Floor(h))
		if k >= m-1 {
			out[i] = col[m-1]
			continue
		}
		out[i] = col[k] + (h-float64(k))*(col[k+1]-col[k])
	}
	return out, nil
}

// QuantileBand returns the band between the lo- and hi-quantiles of the
// paths at each time (see [Quantiles]), e.g. lo=0.05, hi=0.95 for a 90%
// band.
func QuantileBand(label string, paths [][]float64, lo, hi float64) (Band, error) {
	if !(lo <= hi) {
		return Band{}, fmt.Errorf("plotting.QuantileBand: lo=%v must be <= hi=%v", lo, hi)
	}
	lower, err := Quantiles(paths, lo)
	if err != nil {
		return Band{}, fmt.Errorf("plotting.QuantileBand: lower: %w", err)
	}
	upper, err := Quantiles(paths, hi)
	if err != nil {
		return Band{}, fmt.Errorf("plotting.QuantileBand: upper: %w", err)
	}
	return Band{Label: label, Lower: lower, Upper: upper}, nil
}

// Paths plots sample paths x(t) against t: paths[j][i] is path j at time
// ts[i]. Bands (e.g. quantile bands) are drawn underneath. Up to 10 paths
// get distinct palette colours; more are drawn thin and translucent in one
// colour so the bulk of the distribution shows. Lines (e.g. the exact mean)
// are drawn on top; their Xs are usually ts.
func Paths(title string, ts []float64, paths [][]float64, bands []Band, lines ...Series) (*plot.Plot, error) {
	if len(ts) == 0 {
		return nil, errors.New("plotting.Paths: ts is empty")
	}
	if err := checkFinite("ts", ts); err != nil {
		return nil, fmt.Errorf("plotting.Paths: %w", err)
	}
	if _, err := checkPaths(paths, len(ts)); err != nil {
		return nil, fmt.Errorf("plotting.Paths: %w (len(ts)=%d)", err, len(ts))
	}
	p := newPlot(title, "t", "x")
	var avoid []plotter.XYs // what the legend should avoid
	for k, b := range bands {
		name := fmt.Sprintf("bands[%d]", k)
		if err := checkXY(name+".Lower", b.Lower, "ts", ts); err != nil {
			return nil, fmt.Errorf("plotting.Paths: %w", err)
		}
		if err := checkXY(name+".Upper", b.Upper, "ts", ts); err != nil {
			return nil, fmt.Errorf("plotting.Paths: %w", err)
		}
		c := b.Color
		if c == nil {
			c = PaletteColor(1 + k)
		}
		poly, err := bandPolygon(ts, b.Lower, b.Upper)
		if err != nil {
			return nil, fmt.Errorf("plotting.Paths: %s: %w", name, err)
		}
		rgba := color.RGBAModel.Convert(c).(color.RGBA)
		poly.Color = withAlpha(rgba, 0.22)
		poly.LineStyle = draw.LineStyle{Color: withAlpha(rgba, 0.6), Width: vg.Points(0.6)}
		p.Add(poly)
		avoidBand(p, ts, b.Lower, b.Upper)
		if b.Label != "" {
			addLegend(p, b.Label, poly)
		}
	}
	many := len(paths) > len(palette)
	var thumb plot.Thumbnailer
	for j, path := range paths {
		xys := toXYs(ts, path)
		avoid = append(avoid, xys)
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("plotting.Paths: paths[%d]: %w", j, err)
		}
		if many {
			a := math.Max(0.18, math.Min(0.6, 10/float64(len(paths))))
			l.LineStyle = draw.LineStyle{Color: withAlpha(PaletteColor(0), a), Width: vg.Points(0.8)}
		} else {
			l.LineStyle = draw.LineStyle{Color: PaletteColor(j), Width: vg.Points(1.1)}
		}
		p.Add(l)
		if j == 0 {
			thumb = l
		}
	}
	if many {
		addLegend(p, fmt.Sprintf("%d sample paths", len(paths)), thumb)
	}
	over, err := addLines(p, len(bands)+1, Viridis(), nil, lines)
	if err != nil {
		return nil, fmt.Errorf("plotting.Paths: lines: %w", err)
	}
	return finish(p, nil, append(avoid, over...)), nil
}

// bandPolygon returns the polygon enclosing lower and upper over ts.
func bandPolygon(ts, lower, upper []float64) (*plotter.Polygon, error) {
	n := len(ts)
	xys := make(plotter.XYs, 0, 2*n)
	for i := 0; i < n; i++ {
		xys = append(xys, plotter.XY{X: ts[i], Y: lower[i]})
	}
	for i := n - 1; i >= 0; i-- {
		xys = append(xys, plotter.XY{X: ts[i], Y: upper[i]})
	}
	return plotter.NewPolygon(xys)
}

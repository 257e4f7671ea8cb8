package plotting

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Series is one named curve.
type Series struct {
	// Label is shown in the legend; empty means no legend entry.
	Label string
	// Xs and Ys are the coordinates. For [Loss], nil Xs means steps 0, 1, ...
	Xs, Ys []float64
	// Ts, if not nil (same length as Xs), colours the line by time with the
	// figure's colour map instead of a single colour (used by
	// [TrajectoryByTime]; other figures also accept it).
	Ts []float64
	// Color overrides the automatic palette colour when not nil.
	Color color.Color
	// Dashed draws the line dashed.
	Dashed bool
	// Points draws a small marker at each point in addition to the line.
	Points bool
}

// validate checks the series' coordinates; name identifies it in errors.
func (s *Series) validate(name string) error {
	if err := checkXY(name+".Xs", s.Xs, name+".Ys", s.Ys); err != nil {
		return err
	}
	if s.Ts != nil {
		if err := checkSameLen(name+".Xs", s.Xs, name+".Ts", s.Ts); err != nil {
			return err
		}
		if err := checkFinite(name+".Ts", s.Ts); err != nil {
			return err
		}
	}
	return nil
}

// seriesName is how a series is referred to in error messages.
func seriesName(i int, s Series) string {
	if s.Label != "" {
		return fmt.Sprintf("series[%d] %q", i, s.Label)
	}
	return fmt.Sprintf("series[%d]", i)
}

// newPlot returns a plot with the package's common styling: sans-serif
// text, light grid lines, tick labels that tell values apart, and a legend
// drawn by the package (see legendBox) off the data.
func newPlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.Padding = vg.Points(6)
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	for _, sty := range []*text.Style{&p.Title.TextStyle, &p.X.Label.TextStyle, &p.Y.Label.TextStyle,
		&p.X.Tick.Label, &p.Y.Tick.Label, &p.Legend.TextStyle} {
		sty.Font.Variant = "Sans"
	}
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.X.Label.TextStyle.Font.Size = vg.Points(11)
	p.Y.Label.TextStyle.Font.Size = vg.Points(11)
	p.Legend.TextStyle.Font.Size = vg.Points(10)
	p.Legend.ThumbnailWidth = vg.Points(18)
	p.X.Tick.Marker = linearTicks{}
	p.Y.Tick.Marker = linearTicks{}
	registerLegend(p)
	g := plotter.NewGrid()
	g.Vertical.Color = color.Gray{Y: 215}
	g.Horizontal.Color = color.Gray{Y: 215}
	p.Add(g)
	return p
}

// finish frames both axes around the data (see frameAxis) and adds the
// legend on top of everything drawn so far; the legend avoids covering the
// given scattered points and polylines (and whatever was registered with
// avoidBand).
func finish(p *plot.Plot, pts plotter.XYs, lines []plotter.XYs) *plot.Plot {
	frameAxis(&p.X)
	frameAxis(&p.Y)
	if lb := legendOf(p); lb != nil {
		lb.pts = append(lb.pts, pts...)
		lb.lines = append(lb.lines, lines...)
		p.Add(lb)
	}
	return p
}

// avoidBand makes p's legend avoid the region between lower and upper over ts.
func avoidBand(p *plot.Plot, ts, lower, upper []float64) {
	if lb := legendOf(p); lb != nil {
		lb.bands = append(lb.bands, [3][]float64{ts, lower, upper})
	}
}

// lineStyle is the stroke used for series i.
func (s *Series) lineStyle(i int) draw.LineStyle {
	var c color.Color = PaletteColor(i)
	if s.Color != nil {
		c = s.Color
	}
	sty := draw.LineStyle{Color: c, Width: vg.Points(1.6)}
	if s.Dashed {
		sty.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	}
	return sty
}

// addLines adds the series to p as lines, with palette colours starting
// after the lines p already has (index offset), and legend entries for the
// labelled ones. Series with Ts set are coloured by time with cmap over the
// time range tr (nil tr means the union of the series' Ts).
func addLines(p *plot.Plot, offset int, cmap ColorMap, tr *scaler, series []Series) ([]plotter.XYs, error) {
	if tr == nil {
		s := timeRange(series, nil)
		tr = &s
	}
	var lines []plotter.XYs
	for i, s := range series {
		if err := s.validate(seriesName(i, s)); err != nil {
			return nil, err
		}
		sty := s.lineStyle(offset + i)
		xys := toXYs(s.Xs, s.Ys)
		lines = append(lines, xys)
		var thumb plot.Thumbnailer
		if s.Ts != nil {
			g := &gradientLine{xys: xys, ts: s.Ts, cmap: cmap, tr: *tr, style: sty}
			p.Add(g)
			thumb = g
		} else {
			l, err := plotter.NewLine(xys)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", seriesName(i, s), err)
			}
			l.LineStyle = sty
			p.Add(l)
			thumb = l
		}
		if s.Points {
			sc, err := plotter.NewScatter(xys)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", seriesName(i, s), err)
			}
			sc.GlyphStyle = draw.GlyphStyle{Color: sty.Color, Radius: vg.Points(2.2), Shape: draw.CircleGlyph{}}
			p.Add(sc)
		}
		if s.Label != "" {
			addLegend(p, s.Label, thumb)
		}
	}
	return lines, nil
}

// toXYs copies coordinates into gonum's XYs.
func toXYs(xs, ys []float64) plotter.XYs {
	xys := make(plotter.XYs, len(xs))
	for i := range xs {
		xys[i].X, xys[i].Y = xs[i], ys[i]
	}
	return xys
}

// steps returns 0, 1, ..., n-1.
func steps(n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = float64(i)
	}
	return s
}

// Lines plots one or more series as lines with a legend.
func Lines(title, xLabel, yLabel string, series ...Series) (*plot.Plot, error) {
	if len(series) == 0 {
		return nil, errors.New("plotting.Lines: no series")
	}
	p := newPlot(title, xLabel, yLabel)
	lines, err := addLines(p, 0, Viridis(), nil, series)
	if err != nil {
		return nil, fmt.Errorf("plotting.Lines: %w", err)
	}
	return finish(p, nil, lines), nil
}

// Loss plots training curves: each series' Ys against its Xs (the step; nil
// Xs means 0, 1, ...). With logY the y axis is logarithmic and all values
// must be positive.
func Loss(title string, logY bool, series ...Series) (*plot.Plot, error) {
	if len(series) == 0 {
		return nil, errors.New("plotting.Loss: no series")
	}
	ss := make([]Series, len(series))
	for i, s := range series {
		if s.Xs == nil {
			s.Xs = steps(len(s.Ys))
		}
		if logY {
			if err := checkPositive(seriesName(i, s)+".Ys", s.Ys); err != nil {
				return nil, fmt.Errorf("plotting.Loss: %w", err)
			}
		}
		ss[i] = s
	}
	p := newPlot(title, "step", "loss")
	lines, err := addLines(p, 0, Viridis(), nil, ss)
	if err != nil {
		return nil, fmt.Errorf("plotting.Loss: %w", err)
	}
	if logY {
		setLog(&p.Y)
	}
	return finish(p, nil, lines), nil
}

// LogLog plots series on logarithmic x and y axes, e.g. error against step
// size or against the number of Monte Carlo paths. For each slope in
// refSlopes a dashed gray reference line y ∝ x^slope, labelled "slope s",
// is drawn across the first series' x range, placed a factor of 2 below the
// first series' geometric centre so it does not hide the data.
// All coordinates must be positive.
func LogLog(title, xLabel, yLabel string, refSlopes []float64, series ...Series) (*plot.Plot, error) {
	if len(series) == 0 {
		return nil, errors.New("plotting.LogLog: no series")
	}
	if err := checkFinite("refSlopes", refSlopes); err != nil {
		return nil, fmt.Errorf("plotting.LogLog: %w", err)
	}
	for i, s := range series {
		if err := s.validate(seriesName(i, s)); err != nil {
			return nil, fmt.Errorf("plotting.LogLog: %w", err)
		}
		if err := checkPositive(seriesName(i, s)+".Xs", s.Xs); err != nil {
			return nil, fmt.Errorf("plotting.LogLog: %w", err)
		}
		if err := checkPositive(seriesName(i, s)+".Ys", s.Ys); err != nil {
			return nil, fmt.Errorf("plotting.LogLog: %w", err)
		}
	}
	p := newPlot(title, xLabel, yLabel)
	marked := make([]Series, len(series))
	for i, s := range series {
		s.Points = true
		marked[i] = s
	}
	lines, err := addLines(p, 0, Viridis(), nil, marked)
	if err != nil {
		return nil, fmt.Errorf("plotting.LogLog: %w", err)
	}
	for k, slope := range refSlopes {
		l, err := referenceLine(slope, series)
		if err != nil {
			return nil, fmt.Errorf("plotting.LogLog: reference slope %v: %w", slope, err)
		}
		l.LineStyle = draw.LineStyle{
			Color:  color.Gray{Y: uint8(60 + 40*(k%3))},
			Width:  vg.Points(1.2),
			Dashes: []vg.Length{vg.Points(2 + 3*float64(k%3)), vg.Points(3)},
		}
		p.Add(l)
		lines = append(lines, l.XYs)
		addLegend(p, "slope "+strconv.FormatFloat(slope, 'g', 3, 64), l)
	}
	setLog(&p.X)
	setLog(&p.Y)
	return finish(p, nil, lines), nil
}

// referenceLine returns the line y ∝ x^slope over the x range of the series
// whose fitted slope is closest to slope, a factor of 2 below that series'
// geometric centre.
func referenceLine(slope float64, series []Series) (*plotter.Line, error) {
	best, bestDiff := 0, math.Inf(1)
	for i, s := range series {
		if fit, err := Slope(s.Xs, s.Ys); err == nil && math.Abs(fit-slope) < bestDiff {
			best, bestDiff = i, math.Abs(fit-slope)
		}
	}
	s := series[best]
	var lx, ly float64
	for i := range s.Xs {
		lx += math.Log(s.Xs[i])
		ly += math.Log(s.Ys[i])
	}
	lx /= float64(len(s.Xs))
	ly = ly/float64(len(s.Xs)) - math.Ln2
	at := func(x float64) float64 { return math.Exp(ly + slope*(math.Log(x)-lx)) }
	xmin, xmax := minMax(s.Xs)
	return plotter.NewLine(plotter.XYs{{X: xmin, Y: at(xmin)}, {X: xmax, Y: at(xmax)}})
}

// Slope returns the least-squares slope of log(ys) against log(xs): the
// empirical order in a log-log convergence plot. It needs at least two
// points with distinct positive xs and positive ys.
func Slope(xs, ys []float64) (float64, error) {
	if err := checkXY("xs", xs, "ys", ys); err != nil {
		return 0, fmt.Errorf("plotting.Slope: %w", err)
	}
	if err := checkPositive("xs", xs); err != nil {
		return 0, fmt.Errorf("plotting.Slope: %w", err)
	}
	if err := checkPositive("ys", ys); err != nil {
		return 0, fmt.Errorf("plotting.Slope: %w", err)
	}
	n := float64(len(xs))
	var mx, my float64
	for i := range xs {
		mx += math.Log(xs[i])
		my += math.Log(ys[i])
	}
	mx, my = mx/n, my/n
	var sxy, sxx float64
	for i := range xs {
		dx := math.Log(xs[i]) - mx
		sxy += dx * (math.Log(ys[i]) - my)
		sxx += dx * dx
	}
	if sxx == 0 {
		return 0, errors.New("plotting.Slope: need at least two distinct xs")
	}
	return sxy / sxx, nil
}

// minMax returns the extremes of a non-empty slice.
func minMax(v []float64) (lo, hi float64) {
	lo, hi = v[0], v[0]
	for _, x := range v[1:] {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	return lo, hi
}

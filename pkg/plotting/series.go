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
// text, light grid lines, and a legend in the top-right corner on a
// translucent white box.
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
	p.Legend.Top = true
	p.Legend.Left = false
	p.Legend.ThumbnailWidth = vg.Points(18)
	p.Legend.XOffs, p.Legend.YOffs = -legendInset, -legendInset
	g := plotter.NewGrid()
	g.Vertical.Color = color.Gray{Y: 215}
	g.Horizontal.Color = color.Gray{Y: 215}
	p.Add(g)
	return p
}

// legendInset is how far the legend sits inside the data area's corner.
const legendInset = vg.Length(5)

// finish adds the legend background on top of everything drawn so far;
// the legend avoids covering the given scattered points and polylines.
func finish(p *plot.Plot, pts plotter.XYs, lines []plotter.XYs) *plot.Plot {
	p.Add(&legendBox{pts: pts, lines: lines})
	return p
}

// legendBox moves the legend to the corner of the data area that covers
// the fewest data points, and draws a translucent box there so that the
// legend stays readable over whatever data remain underneath.
type legendBox struct {
	pts   plotter.XYs
	lines []plotter.XYs
}

// Plot implements plot.Plotter.
func (b *legendBox) Plot(c draw.Canvas, p *plot.Plot) {
	r := p.Legend.Rectangle(c)
	w, h := r.Max.X-r.Min.X, r.Max.Y-r.Min.Y
	if w <= 0 || h <= 0 {
		return
	}
	m := vg.Points(3)
	boxAt := func(top, left bool) vg.Rectangle {
		var box vg.Rectangle
		if left {
			box.Min.X = c.Min.X + legendInset - m
			box.Max.X = box.Min.X + w + 4*m
		} else {
			box.Max.X = c.Max.X - legendInset + m
			box.Min.X = box.Max.X - w - 4*m
		}
		if top {
			box.Max.Y = c.Max.Y - legendInset + m
			box.Min.Y = box.Max.Y - h - 2*m
		} else {
			box.Min.Y = c.Min.Y + legendInset - m
			box.Max.Y = box.Min.Y + h + 2*m
		}
		return box
	}
	trX, trY := p.Transforms(&c)
	covered := func(box vg.Rectangle) int {
		n := 0
		in := func(x, y vg.Length) {
			if x >= box.Min.X && x <= box.Max.X && y >= box.Min.Y && y <= box.Max.Y {
				n++
			}
		}
		for _, pt := range b.pts {
			in(trX(pt.X), trY(pt.Y))
		}
		for _, l := range b.lines {
			for i := range l {
				x1, y1 := trX(l[i].X), trY(l[i].Y)
				in(x1, y1)
				if i == 0 {
					continue
				}
				// Sample long segments so lines crossing the box count.
				x0, y0 := trX(l[i-1].X), trY(l[i-1].Y)
				k := int(math.Hypot(float64(x1-x0), float64(y1-y0)) / 4)
				for j := 1; j < k; j++ {
					f := vg.Length(j) / vg.Length(k)
					in(x0+f*(x1-x0), y0+f*(y1-y0))
				}
			}
		}
		return n
	}
	best, bestN := 0, -1
	corners := [4][2]bool{{true, false}, {true, true}, {false, false}, {false, true}} // {top, left}
	for i, tl := range corners {
		if n := covered(boxAt(tl[0], tl[1])); bestN < 0 || n < bestN {
			best, bestN = i, n
		}
	}
	top, left := corners[best][0], corners[best][1]
	p.Legend.Top, p.Legend.Left = top, left
	p.Legend.XOffs, p.Legend.YOffs = legendInset, legendInset
	if !left {
		p.Legend.XOffs = -legendInset
	}
	if top {
		p.Legend.YOffs = -legendInset
	}
	box := boxAt(top, left)
	c.SetColor(color.NRGBA{R: 248, G: 248, B: 248, A: 225})
	c.Fill(box.Path())
	c.StrokeLines(draw.LineStyle{Color: color.Gray{Y: 180}, Width: vg.Points(0.5)},
		[]vg.Point{box.Min, {X: box.Max.X, Y: box.Min.Y}, box.Max, {X: box.Min.X, Y: box.Max.Y}, box.Min})
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
			p.Legend.Add(s.Label, thumb)
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

// setLog makes an axis logarithmic.
func setLog(a *plot.Axis) {
	a.Scale = plot.LogScale{}
	a.Tick.Marker = logTicks{}
}

// logTicks labels powers of ten (and, for ranges under two decades, also 2
// and 5 times them) on a log axis.
type logTicks struct{}

// Ticks implements plot.Ticker.
func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi > 0) {
		return nil
	}
	e0 := int(math.Floor(math.Log10(lo)))
	e1 := int(math.Ceil(math.Log10(hi)))
	few := e1-e0 <= 3
	var ticks []plot.Tick
	for e := e0; e <= e1; e++ {
		base := math.Pow10(e)
		for k := 1; k < 10; k++ {
			v := base * float64(k)
			if v < lo*(1-1e-9) || v > hi*(1+1e-9) {
				continue
			}
			t := plot.Tick{Value: v}
			if k == 1 || (few && (k == 2 || k == 5)) {
				t.Label = strconv.FormatFloat(v, 'g', 3, 64)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
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
		p.Legend.Add("slope "+strconv.FormatFloat(slope, 'g', 3, 64), l)
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

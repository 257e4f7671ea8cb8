package plotting

import (
	"fmt"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// timeRange returns the range of all Ts of the series together with extra.
func timeRange(series []Series, extra []float64) scaler {
	s := scaler{lo: math.Inf(1), hi: math.Inf(-1)}
	add := func(v []float64) {
		for _, t := range v {
			s.lo, s.hi = math.Min(s.lo, t), math.Max(s.hi, t)
		}
	}
	add(extra)
	for _, ser := range series {
		add(ser.Ts)
	}
	if s.lo > s.hi {
		return scaler{}
	}
	return s
}

// gradientLine is a polyline whose segments are coloured by time.
type gradientLine struct {
	xys   plotter.XYs
	ts    []float64
	cmap  ColorMap
	tr    scaler
	style draw.LineStyle
}

// Plot implements plot.Plotter.
func (g *gradientLine) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	sty := g.style
	for i := 1; i < len(g.xys); i++ {
		sty.Color = g.cmap.At(g.tr.unit(0.5 * (g.ts[i-1] + g.ts[i])))
		seg := []vg.Point{
			{X: trX(g.xys[i-1].X), Y: trY(g.xys[i-1].Y)},
			{X: trX(g.xys[i].X), Y: trY(g.xys[i].Y)},
		}
		c.StrokeLines(sty, c.ClipLinesXY(seg)...)
	}
}

// DataRange implements plot.DataRanger.
func (g *gradientLine) DataRange() (xmin, xmax, ymin, ymax float64) {
	return plotter.XYRange(g.xys)
}

// Thumbnail implements plot.Thumbnailer: a short line running through the
// colour map.
func (g *gradientLine) Thumbnail(c *draw.Canvas) {
	const n = 8
	y := c.Center().Y
	w := c.Max.X - c.Min.X
	sty := g.style
	sty.Dashes = nil
	for i := 0; i < n; i++ {
		sty.Color = g.cmap.At((float64(i) + 0.5) / n)
		x0 := c.Min.X + w*vg.Length(i)/n
		c.StrokeLine2(sty, x0, y, x0+w/n, y)
	}
}

// TrajectoryByTime plots observations (xs[i], ys[i]) at times ts[i] as
// points coloured by time with the [Viridis] colour map, and on top of them
// curves (e.g. the true and the predicted trajectory), so that a reference
// curve stays visible through dense observations. Curves with Ts set are
// coloured by time on the same scale (the range of ts and all curves' Ts).
// The observations get one legend entry that names the time range.
// ts may be nil to draw only the curves; curves may be empty.
func TrajectoryByTime(title string, ts, xs, ys []float64, curves ...Series) (*plot.Plot, error) {
	if ts != nil || xs != nil || ys != nil {
		if err := checkXY("xs", xs, "ys", ys); err != nil {
			return nil, fmt.Errorf("plotting.TrajectoryByTime: %w", err)
		}
		if err := checkSameLen("xs", xs, "ts", ts); err != nil {
			return nil, fmt.Errorf("plotting.TrajectoryByTime: %w", err)
		}
		if err := checkFinite("ts", ts); err != nil {
			return nil, fmt.Errorf("plotting.TrajectoryByTime: %w", err)
		}
	} else if len(curves) == 0 {
		return nil, fmt.Errorf("plotting.TrajectoryByTime: nothing to plot (no observations and no curves)")
	}
	cmap := Viridis()
	tr := timeRange(curves, ts)
	p := newPlot(title, "x", "y")
	var obs plotter.XYs
	if len(ts) > 0 {
		glyph := func(t float64) draw.GlyphStyle {
			return draw.GlyphStyle{Color: cmap.At(tr.unit(t)), Radius: vg.Points(2.4), Shape: draw.CircleGlyph{}}
		}
		obs = toXYs(xs, ys)
		sc, err := plotter.NewScatter(obs)
		if err != nil {
			return nil, fmt.Errorf("plotting.TrajectoryByTime: %w", err)
		}
		sc.GlyphStyleFunc = func(i int) draw.GlyphStyle { return glyph(ts[i]) }
		p.Add(sc)
		label := "observations"
		if tr.hi > tr.lo {
			label = fmt.Sprintf("obs., t = %s → %s", strconv.FormatFloat(tr.lo, 'g', 3, 64), strconv.FormatFloat(tr.hi, 'g', 3, 64))
		}
		var thumb glyphRow
		for _, u := range []float64{0, 1.0 / 3, 2.0 / 3, 1} {
			thumb = append(thumb, glyph(tr.lo+u*(tr.hi-tr.lo)))
		}
		addLegend(p, label, thumb)
	}
	lines, err := addLines(p, 0, cmap, &tr, curves)
	if err != nil {
		return nil, fmt.Errorf("plotting.TrajectoryByTime: %w", err)
	}
	return finish(p, obs, lines), nil
}

// glyphRow is a legend thumbnail showing a row of glyphs (e.g. the colours
// of early to late times).
type glyphRow []draw.GlyphStyle

// Thumbnail implements plot.Thumbnailer.
func (g glyphRow) Thumbnail(c *draw.Canvas) {
	w := c.Max.X - c.Min.X
	for i, sty := range g {
		sty.Radius = min(sty.Radius, w/vg.Length(2*len(g)))
		x := c.Min.X + w*(vg.Length(i)+0.5)/vg.Length(len(g))
		c.DrawGlyph(sty, vg.Point{X: x, Y: c.Center().Y})
	}
}

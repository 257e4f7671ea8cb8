package plotting

import (
	"image/color"
	"math"
	"runtime"
	"sync"
	"weak"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// The package draws its legends itself (plot.Legend stays empty) so that a
// legend can be placed off the data: in a corner of the data area that no
// data cross, made free, when every corner is crossed, by widening one axis
// range at render time (see fitLegend). The range change lasts only while
// the figure is drawn.

// legendGap is the minimum distance between the legend box and the data.
const legendGap = vg.Length(4)

// legendInset is how far the legend box sits inside the data area's corner.
const legendInset = vg.Length(4)

// legendEntry is one line of a legend.
type legendEntry struct {
	label string
	thumb plot.Thumbnailer
}

// legendBox is a plotter that draws the legend of a plot made by this
// package, in the corner chosen by fitLegend (or, when the plot is drawn
// directly with gonum, the corner covering the fewest data).
type legendBox struct {
	entries []legendEntry
	// pts are scattered points, lines polylines and bands filled regions
	// (lower and upper bounds over ts) that the legend should not cover.
	pts   plotter.XYs
	lines []plotter.XYs
	bands [][3][]float64
	// corner is the corner fixed by fitLegend (index into corners), or -1.
	corner int
	// drawn is the box of the last drawing and drawnAt maps data
	// coordinates to that drawing's canvas (for tests).
	drawn   vg.Rectangle
	drawnAt func(x, y float64) vg.Point
}

// corners are the legend positions tried, in order of preference: {top, left}.
var corners = [4][2]bool{{true, false}, {true, true}, {false, false}, {false, true}}

// legends maps each plot made by this package to its legend.
var legends sync.Map // weak.Pointer[plot.Plot] -> *legendBox

// registerLegend attaches a new legend to p.
func registerLegend(p *plot.Plot) *legendBox {
	lb := &legendBox{corner: -1}
	key := weak.Make(p)
	legends.Store(key, lb)
	runtime.AddCleanup(p, func(k weak.Pointer[plot.Plot]) { legends.Delete(k) }, key)
	return lb
}

// legendOf returns p's legend, or nil for a plot not made by this package.
func legendOf(p *plot.Plot) *legendBox {
	if v, ok := legends.Load(weak.Make(p)); ok {
		return v.(*legendBox)
	}
	return nil
}

// addLegend adds an entry to p's legend (to gonum's legend for a plot not
// made by this package).
func addLegend(p *plot.Plot, label string, thumb plot.Thumbnailer) {
	if lb := legendOf(p); lb != nil {
		lb.entries = append(lb.entries, legendEntry{label, thumb})
		return
	}
	p.Legend.Add(label, thumb)
}

// size returns the legend box's width and height, padding included, and
// the height of one entry.
func (lb *legendBox) size(p *plot.Plot) (w, h, entry vg.Length) {
	sty := p.Legend.TextStyle
	for _, e := range lb.entries {
		r := sty.Rectangle(" " + e.label)
		w = max(w, r.Max.X)
		entry = max(entry, r.Size().Y)
	}
	n := vg.Length(len(lb.entries))
	pad := vg.Points(3)
	return p.Legend.ThumbnailWidth + w + 3*pad, n*entry + (n-1)*p.Legend.Padding + 2*pad, entry
}

// boxAt is the legend box in corner k of the data canvas c.
func (lb *legendBox) boxAt(p *plot.Plot, c draw.Canvas, k int) vg.Rectangle {
	w, h, _ := lb.size(p)
	top, left := corners[k][0], corners[k][1]
	var r vg.Rectangle
	if left {
		r.Min.X = c.Min.X + legendInset
		r.Max.X = r.Min.X + w
	} else {
		r.Max.X = c.Max.X - legendInset
		r.Min.X = r.Max.X - w
	}
	if top {
		r.Max.Y = c.Max.Y - legendInset
		r.Min.Y = r.Max.Y - h
	} else {
		r.Min.Y = c.Min.Y + legendInset
		r.Max.Y = r.Min.Y + h
	}
	return r
}

// axisScale returns the function that maps data values to the axis's
// linear coordinate (log10 on a log axis) and its inverse.
func axisScale(a *plot.Axis) (fwd, inv func(float64) float64) {
	switch a.Scale.(type) {
	case plot.LogScale, *plot.LogScale:
		return math.Log10, func(v float64) float64 { return math.Pow(10, v) }
	}
	id := func(v float64) float64 { return v }
	return id, id
}

// samples returns what the legend must not cover as points in normalized
// data-area coordinates (0..1 inside the current axis ranges) of a data
// canvas of size w×h: the scattered points, the polylines sampled every few
// points of length, and the bands filled by vertical segments.
func (lb *legendBox) samples(p *plot.Plot, w, h vg.Length) [][2]float64 {
	var out [][2]float64
	norm := func(x, y float64) [2]float64 { return [2]float64{p.X.Norm(x), p.Y.Norm(y)} }
	seg := func(a, b [2]float64) {
		d := math.Hypot((b[0]-a[0])*float64(w), (b[1]-a[1])*float64(h))
		k := int(d / 3)
		for j := 1; j <= k; j++ {
			f := float64(j) / float64(k+1)
			out = append(out, [2]float64{a[0] + f*(b[0]-a[0]), a[1] + f*(b[1]-a[1])})
		}
	}
	valid := func(x, y float64) bool {
		return !math.IsNaN(x) && !math.IsNaN(y) && !math.IsInf(x, 0) && !math.IsInf(y, 0) &&
			(!isLog(&p.X) || x > 0) && (!isLog(&p.Y) || y > 0)
	}
	for _, pt := range lb.pts {
		if valid(pt.X, pt.Y) {
			out = append(out, norm(pt.X, pt.Y))
		}
	}
	poly := func(l plotter.XYs) {
		for i := range l {
			if !valid(l[i].X, l[i].Y) {
				continue
			}
			q := norm(l[i].X, l[i].Y)
			out = append(out, q)
			if i > 0 && valid(l[i-1].X, l[i-1].Y) {
				seg(norm(l[i-1].X, l[i-1].Y), q)
			}
		}
	}
	for _, l := range lb.lines {
		poly(l)
	}
	for _, b := range lb.bands {
		ts, lo, hi := b[0], b[1], b[2]
		for i := range ts {
			poly(plotter.XYs{{X: ts[i], Y: lo[i]}, {X: ts[i], Y: hi[i]}})
			if i > 0 {
				m := 0.5 * (ts[i-1] + ts[i])
				poly(plotter.XYs{{X: m, Y: 0.5 * (lo[i-1] + lo[i])}, {X: m, Y: 0.5 * (hi[i-1] + hi[i])}})
			}
		}
	}
	return out
}

// isLog reports whether a is a logarithmic axis.
func isLog(a *plot.Axis) bool {
	switch a.Scale.(type) {
	case plot.LogScale, *plot.LogScale:
		return true
	}
	return false
}

// frac returns box r, grown by the gap, in normalized coordinates of c.
func frac(c draw.Canvas, r vg.Rectangle) (x0, x1, y0, y1 float64) {
	w, h := float64(c.Max.X-c.Min.X), float64(c.Max.Y-c.Min.Y)
	x0 = float64(r.Min.X-legendGap-c.Min.X) / w
	x1 = float64(r.Max.X+legendGap-c.Min.X) / w
	y0 = float64(r.Min.Y-legendGap-c.Min.Y) / h
	y1 = float64(r.Max.Y+legendGap-c.Min.Y) / h
	return
}

// coveredIn counts the samples inside the normalized box.
func coveredIn(s [][2]float64, x0, x1, y0, y1 float64) int {
	n := 0
	for _, q := range s {
		if q[0] >= x0 && q[0] <= x1 && q[1] >= y0 && q[1] <= y1 {
			n++
		}
	}
	return n
}

// fitLegend chooses the legend's corner for drawing p on canvas c (the
// plot's whole area) and, when every corner covers data, widens one axis
// range just enough to free the corner that needs the smallest widening.
// It returns a function that restores p's ranges and automatic placement.
func fitLegend(p *plot.Plot, c draw.Canvas) (restore func()) {
	lb := legendOf(p)
	if lb == nil || len(lb.entries) == 0 {
		return func() {}
	}
	xmin, xmax, ymin, ymax := p.X.Min, p.X.Max, p.Y.Min, p.Y.Max
	restore = func() {
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = xmin, xmax, ymin, ymax
		lb.corner = -1
	}
	for iter := 0; iter < 4; iter++ {
		dc := p.DataCanvas(c)
		w, h := dc.Max.X-dc.Min.X, dc.Max.Y-dc.Min.Y
		if w <= 0 || h <= 0 {
			return restore
		}
		s := lb.samples(p, w, h)
		bestK, bestN := 0, -1
		for k := range corners {
			x0, x1, y0, y1 := frac(dc, lb.boxAt(p, dc, k))
			if n := coveredIn(s, x0, x1, y0, y1); bestN < 0 || n < bestN {
				bestK, bestN = k, n
			}
		}
		lb.corner = bestK
		if bestN == 0 {
			return restore
		}
		// Every corner covers data: widen the range that costs least.
		bestCost, bestAxis, bestLo, bestHi := math.Inf(1), -1, 0.0, 0.0
		for k := range corners {
			top, left := corners[k][0], corners[k][1]
			x0, x1, y0, y1 := frac(dc, lb.boxAt(p, dc, k))
			for axis := 0; axis < 2; axis++ {
				// Along the widened axis the data must end before the box
				// (at lim in normalized units, counted from the kept end),
				// considering the samples within the box's other span.
				var lim, ext float64
				for _, q := range s {
					u, v := q[0], q[1]
					if axis == 0 { // widen y: samples under the box's x span
						if u < x0 || u > x1 {
							continue
						}
						if top {
							ext = max(ext, v)
						} else {
							ext = max(ext, 1-v)
						}
					} else {
						if v < y0 || v > y1 {
							continue
						}
						if left {
							ext = max(ext, 1-u)
						} else {
							ext = max(ext, u)
						}
					}
				}
				switch {
				case axis == 0 && top:
					lim = y0
				case axis == 0:
					lim = 1 - y1
				case left:
					lim = 1 - x1
				default:
					lim = x0
				}
				if lim <= 0.25 || ext <= 0 {
					continue // the legend takes (nearly) the whole axis
				}
				cost := max(1.001, ext/(lim-0.005)) // new range length / old range length, with a little room
				if cost < bestCost {
					bestCost, bestAxis = cost, 2*k+axis
					a := &p.Y
					if axis == 1 {
						a = &p.X
					}
					fwd, inv := axisScale(a)
					lo, hi := fwd(a.Min), fwd(a.Max)
					span := (hi - lo) * cost
					if (axis == 0 && top) || (axis == 1 && !left) {
						bestLo, bestHi = a.Min, inv(lo+span)
					} else {
						bestLo, bestHi = inv(hi-span), a.Max
					}
					if isLog(a) {
						m := logMantissas(a.Min, a.Max)
						bestLo, bestHi = niceLogBelow(bestLo, m), niceLogAbove(bestHi, m)
					}
				}
			}
		}
		if bestAxis < 0 {
			return restore // no corner can be freed: keep the least covered one
		}
		a := &p.Y
		if bestAxis%2 == 1 {
			a = &p.X
		}
		a.Min, a.Max = bestLo, bestHi
	}
	return restore
}

// Plot implements plot.Plotter: it draws the box and the entries.
func (lb *legendBox) Plot(c draw.Canvas, p *plot.Plot) {
	if len(lb.entries) == 0 {
		return
	}
	k := lb.corner
	if k < 0 { // drawn directly by gonum: take the least covered corner
		s := lb.samples(p, c.Max.X-c.Min.X, c.Max.Y-c.Min.Y)
		bestN := -1
		for j := range corners {
			x0, x1, y0, y1 := frac(c, lb.boxAt(p, c, j))
			if n := coveredIn(s, x0, x1, y0, y1); bestN < 0 || n < bestN {
				k, bestN = j, n
			}
		}
	}
	box := lb.boxAt(p, c, k)
	xa, ya := p.X, p.Y // the ranges of this drawing
	lb.drawn = box
	lb.drawnAt = func(x, y float64) vg.Point { return vg.Point{X: c.X(xa.Norm(x)), Y: c.Y(ya.Norm(y))} }
	c.SetColor(color.NRGBA{R: 250, G: 250, B: 250, A: 235})
	c.Fill(box.Path())
	c.StrokeLines(draw.LineStyle{Color: color.Gray{Y: 180}, Width: vg.Points(0.5)},
		[]vg.Point{box.Min, {X: box.Max.X, Y: box.Min.Y}, box.Max, {X: box.Min.X, Y: box.Max.Y}, box.Min})
	_, _, eh := lb.size(p)
	pad := vg.Points(3)
	sty := p.Legend.TextStyle
	sty.XAlign, sty.YAlign = draw.XLeft, draw.YCenter
	y := box.Max.Y - pad
	for _, e := range lb.entries {
		icon := draw.Canvas{Canvas: c.Canvas, Rectangle: vg.Rectangle{
			Min: vg.Point{X: box.Min.X + pad, Y: y - eh},
			Max: vg.Point{X: box.Min.X + pad + p.Legend.ThumbnailWidth, Y: y},
		}}
		e.thumb.Thumbnail(&icon)
		c.FillText(sty, vg.Point{X: icon.Max.X + pad, Y: y - eh/2}, e.label)
		y -= eh + p.Legend.Padding
	}
}

// HideLegend removes the legend of a plot made by this package (e.g. for
// small panels in a [Grid] whose first panel carries the legend).
func HideLegend(p *plot.Plot) {
	if lb := legendOf(p); lb != nil {
		lb.entries = nil
	}
	p.Legend = plot.NewLegend()
}

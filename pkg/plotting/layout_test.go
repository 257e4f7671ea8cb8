package plotting

import (
	"fmt"
	"image/color"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
)

// labelled returns the labelled ticks of a's marker over a's range.
func labelled(a *plot.Axis) []plot.Tick {
	var out []plot.Tick
	for _, t := range a.Tick.Marker.Ticks(a.Min, a.Max) {
		if t.Label != "" {
			out = append(out, t)
		}
	}
	return out
}

// TestLinearTickLabelsDistinct checks that linear tick labels read as
// different numbers and as the values they label, over narrow, wide, tiny,
// huge and random ranges (notebook 04's loss axis read "2.3, 2.2, 2.2, 2.2"
// with gonum's default ticker over 2.21–2.31).
func TestLinearTickLabelsDistinct(t *testing.T) {
	ranges := [][2]float64{{2.21, 2.31}, {2.2601, 2.3027}, {0, 1}, {-3, 2}, {0.5, 0.5000003},
		{-1e-7, 3e-7}, {1e6, 1.00002e6}, {1e9, 7e9}, {-250, -249.99}, {0.0012, 0.0019}, {99.5, 100.5}}
	rng := rand.New(rand.NewPCG(11, 12))
	for range 300 {
		c := (rng.Float64() - 0.5) * math.Pow(10, float64(rng.IntN(16)-8))
		w := math.Abs(c)*math.Pow(10, -float64(rng.IntN(7))) + 1e-12
		ranges = append(ranges, [2]float64{c - w*rng.Float64(), c + w*rng.Float64()})
	}
	for _, r := range ranges {
		ticks := linearTicks{}.Ticks(r[0], r[1])
		seen := map[string]bool{}
		var labels []string
		for _, tk := range ticks {
			if tk.Label == "" {
				continue
			}
			labels = append(labels, tk.Label)
			if seen[tk.Label] {
				t.Errorf("range %v: label %q appears twice in %v", r, tk.Label, labels)
			}
			seen[tk.Label] = true
			v, err := strconv.ParseFloat(tk.Label, 64)
			if err != nil {
				t.Errorf("range %v: label %q is not a number", r, tk.Label)
				continue
			}
			if tol := 1e-9 * math.Max(math.Abs(tk.Value), r[1]-r[0]); math.Abs(v-tk.Value) > tol {
				t.Errorf("range %v: label %q for value %v", r, tk.Label, tk.Value)
			}
			if tk.Value < r[0]-1e-9*(r[1]-r[0]) || tk.Value > r[1]+1e-9*(r[1]-r[0]) {
				t.Errorf("range %v: tick %v outside the range", r, tk.Value)
			}
		}
		if len(labels) < 3 || len(labels) > 8 {
			t.Errorf("range %v: %d labelled ticks %v, want 3 to 8", r, len(labels), labels)
		}
	}
	got := ""
	for _, tk := range (linearTicks{}).Ticks(2.21, 2.31) {
		if tk.Label != "" {
			got += tk.Label + " "
		}
	}
	if got != "2.22 2.24 2.26 2.28 2.30 " {
		t.Errorf("ticks over 2.21–2.31 = %q, want \"2.22 2.24 2.26 2.28 2.30 \"", got)
	}
}

// TestAxesShowTheDataRange checks that every figure's axes contain all
// the data and that on log axes a labelled tick lies at or beyond each end
// of the data (notebook 06's adjoint memory, about 0.5 MiB, lay below the
// lowest label, 1).
func TestAxesShowTheDataRange(t *testing.T) {
	mem := []float64{0.53, 0.55, 0.61, 0.58, 0.6, 0.57}
	direct := []float64{3.1, 6.2, 12.5, 25, 50, 187}
	steps := []float64{25, 50, 100, 200, 400, 800}
	loglog, err := LogLog("memory", "steps", "MiB", []float64{1},
		Series{Label: "adjoint", Xs: steps, Ys: mem}, Series{Label: "direct", Xs: steps, Ys: direct})
	must(t, err)
	loss, err := Loss("loss", true, Series{Ys: []float64{2.302, 2.281, 2.262, 0.0713}})
	must(t, err)
	lin, err := Lines("accuracy", "epoch", "accuracy", Series{Xs: []float64{1, 2, 3}, Ys: []float64{0.962, 0.985, 0.990}})
	must(t, err)
	cases := []struct {
		name   string
		p      *plot.Plot
		xs, ys []float64
	}{
		{"loglog", loglog, append(steps, steps...), append(mem, direct...)},
		{"loss", loss, []float64{0, 3}, []float64{2.302, 0.0713}},
		{"lines", lin, []float64{1, 3}, []float64{0.962, 0.990}},
	}
	for _, c := range cases {
		for _, ax := range []struct {
			name string
			a    *plot.Axis
			v    []float64
		}{{"x", &c.p.X, c.xs}, {"y", &c.p.Y, c.ys}} {
			lo, hi := minMax(ax.v)
			if ax.a.Min > lo || ax.a.Max < hi {
				t.Errorf("%s: %s axis [%v, %v] does not contain the data [%v, %v]", c.name, ax.name, ax.a.Min, ax.a.Max, lo, hi)
			}
			ls := labelled(ax.a)
			if len(ls) < 2 {
				t.Errorf("%s: %s axis has %d labels", c.name, ax.name, len(ls))
				continue
			}
			if isLog(ax.a) && (ls[0].Value > lo || ls[len(ls)-1].Value < hi) {
				t.Errorf("%s: %s labels %q … %q do not span the data [%v, %v]", c.name, ax.name, ls[0].Label, ls[len(ls)-1].Label, lo, hi)
			}
		}
	}
	if ls := labelled(&loglog.Y); ls[0].Label != "0.5" || ls[len(ls)-1].Label != "200" {
		t.Errorf("memory axis labels run %q … %q, want 0.5 … 200", ls[0].Label, ls[len(ls)-1].Label)
	}
	// Over more than three decades the ends are powers of ten and only those
	// are labelled (1-2-5 labels would crowd each other).
	wide, err := Loss("wide", true, Series{Ys: []float64{7.3, 0.1, 4.7e-5}})
	must(t, err)
	var got []string
	for _, tk := range labelled(&wide.Y) {
		got = append(got, tk.Label)
	}
	if want := "[1e-5 0.0001 0.001 0.01 0.1 1 10]"; fmt.Sprint(got) != want {
		t.Errorf("labels over 4.7e-5 … 7.3 = %v, want %s", got, want)
	}
	for v, want := range map[float64]string{1000: "1000", 0.002: "0.002", 5e-5: "5e-5", 2e7: "2e7", 1e5: "1e5"} {
		if got := formatLogTick(v); got != want {
			t.Errorf("formatLogTick(%v) = %q, want %q", v, got, want)
		}
	}
}

// segmentPoints returns points every 1/200 of each segment of a polyline.
func segmentPoints(xs, ys []float64) [][2]float64 {
	var out [][2]float64
	for i := range xs {
		out = append(out, [2]float64{xs[i], ys[i]})
		if i == 0 {
			continue
		}
		for j := 1; j < 200; j++ {
			f := float64(j) / 200
			out = append(out, [2]float64{xs[i-1] + f*(xs[i]-xs[i-1]), ys[i-1] + f*(ys[i]-ys[i-1])})
		}
	}
	return out
}

// TestLegendOffTheData draws figures whose data reach into all four corners
// of the data area, alone and in grids at several sizes, and checks that no
// data point (lines sampled densely, bands filled) lies under the legend
// box as drawn.
func TestLegendOffTheData(t *testing.T) {
	type fig struct {
		name string
		p    *plot.Plot
		pts  [][2]float64
	}
	var figs []fig
	// Lines through all four corners: an X and a frame.
	xs := []float64{0, 1, 0.5, 0, 1}
	ys := []float64{0, 1, 0.5, 1, 0}
	fx, fy := []float64{0, 1, 1, 0, 0}, []float64{0, 0, 1, 1, 0}
	p, err := Lines("corners", "x", "y", Series{Label: "cross", Xs: xs, Ys: ys}, Series{Label: "frame", Xs: fx, Ys: fy})
	must(t, err)
	figs = append(figs, fig{"corners", p, append(segmentPoints(xs, ys), segmentPoints(fx, fy)...)})
	// Observations filling the square, and a curve.
	rng := rand.New(rand.NewPCG(21, 22))
	var ts, ox, oy []float64
	for i := range 400 {
		ts, ox, oy = append(ts, float64(i)), append(ox, rng.Float64()), append(oy, rng.Float64())
	}
	cx, cy := []float64{0, 1}, []float64{0.5, 0.5}
	p, err = TrajectoryByTime("cloud", ts, ox, oy, Series{Label: "true", Xs: cx, Ys: cy, Dashed: true}, Series{Label: "learned", Xs: cy, Ys: cx})
	must(t, err)
	var pts [][2]float64
	for i := range ox {
		pts = append(pts, [2]float64{ox[i], oy[i]})
	}
	figs = append(figs, fig{"cloud", p, append(append(pts, segmentPoints(cx, cy)...), segmentPoints(cy, cx)...)})
	// A band over the whole time range, touching the top and the bottom.
	bt := []float64{0, 0.5, 1}
	band := Band{Label: "band", Lower: []float64{0, 0, 0}, Upper: []float64{1, 1, 1}}
	p, err = Paths("band", bt, [][]float64{{0.2, 0.5, 0.8}}, []Band{band}, Series{Label: "mean", Xs: bt, Ys: []float64{0.5, 0.5, 0.5}})
	must(t, err)
	pts = nil
	for i := 0; i <= 50; i++ {
		for j := 0; j <= 50; j++ {
			pts = append(pts, [2]float64{float64(i) / 50, float64(j) / 50})
		}
	}
	figs = append(figs, fig{"band", p, pts})

	check := func(name string, f fig) {
		t.Helper()
		lb := legendOf(f.p)
		if lb == nil || lb.drawnAt == nil {
			t.Fatalf("%s: legend not drawn", name)
		}
		box := lb.drawn
		for _, q := range f.pts {
			at := lb.drawnAt(q[0], q[1])
			if at.X >= box.Min.X && at.X <= box.Max.X && at.Y >= box.Min.Y && at.Y <= box.Max.Y {
				t.Errorf("%s: data point (%.3g, %.3g) at %v lies under the legend box %v", name, q[0], q[1], at, box)
				return
			}
		}
	}
	for _, f := range figs {
		x0, x1, y0, y1 := f.p.X.Min, f.p.X.Max, f.p.Y.Min, f.p.Y.Max
		for _, size := range [][2]int{{640, 400}, {300, 260}, {900, 300}} {
			_, err := Render(f.p, size[0], size[1])
			must(t, err)
			check(fmt.Sprintf("%s %dx%d", f.name, size[0], size[1]), f)
			if f.p.X.Min != x0 || f.p.X.Max != x1 || f.p.Y.Min != y0 || f.p.Y.Max != y1 {
				t.Errorf("%s: rendering changed the plot's ranges", f.name)
			}
		}
	}
	// The same figures as panels of a grid.
	g, err := NewGrid("grid", 2, 2, figs[0].p, figs[1].p, figs[2].p)
	must(t, err)
	_, err = Render(g, 960, 620)
	must(t, err)
	for _, f := range figs {
		check(f.name+" in a grid", f)
	}
}

// TestCurvesDrawnOverObservations checks that TrajectoryByTime draws its
// curves on top of the observation dots: where dots sit on a red curve the
// pixel at the dot's centre is red.
func TestCurvesDrawnOverObservations(t *testing.T) {
	var ts, xs, ys []float64
	for i := range 21 {
		ts, xs, ys = append(ts, float64(i)), append(xs, float64(i)), append(ys, float64(i%5))
	}
	red := color.RGBA{R: 230, A: 255}
	p, err := TrajectoryByTime("", ts, xs, ys, Series{Label: "true", Xs: xs, Ys: ys, Color: red})
	must(t, err)
	img, err := Render(p, 500, 400)
	must(t, err)
	lb := legendOf(p)
	reddish := 0
	for i := range xs {
		at := lb.drawnAt(xs[i], ys[i])
		px := int(math.Round(float64(at.X / vg.Inch * DPI)))
		py := 400 - int(math.Round(float64(at.Y/vg.Inch*DPI)))
		r, g, b, _ := img.At(px, py).RGBA()
		if r > 0xa000 && g < 0x5000 && b < 0x5000 {
			reddish++
		}
	}
	if reddish < len(xs)-2 {
		t.Errorf("only %d of %d dot centres on the curve show the curve's colour: the curve is under the dots", reddish, len(xs))
	}
}

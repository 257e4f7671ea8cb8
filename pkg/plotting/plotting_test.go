package plotting

import (
	"bytes"
	"image/color"
	"image/gif"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// animationFrames returns n frames of a growing spiral trajectory.
func animationFrames(t *testing.T, n int) []Figure {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 8))
	ts, xs, ys, _ := spiral(40, 6, 0, rng)
	var frames []Figure
	for k := 1; k <= n; k++ {
		m := 40 * k / n
		p, err := TrajectoryByTime("frame", ts[:m], xs[:m], ys[:m])
		must(t, err)
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = -3, 3, -3, 3
		frames = append(frames, p)
	}
	return frames
}

// sampleFigures builds one figure of each kind: those of kindSamples and a
// plain "lines" figure.
func sampleFigures(t *testing.T) map[string]Figure {
	t.Helper()
	figs := kindSamples(t)
	lines, err := Lines("lines", "t", "x", Series{Label: "a", Xs: []float64{0, 1, 2}, Ys: []float64{1, 0, 1}, Ts: []float64{0, 1, 2}})
	must(t, err)
	figs["lines"] = lines
	return figs
}

func TestFiguresRenderPNGAndSVG(t *testing.T) {
	for name, f := range sampleFigures(t) {
		data, err := PNG(f, 320, 240)
		if err != nil {
			t.Fatalf("%s: PNG: %v", name, err)
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: decoding PNG: %v", name, err)
		}
		if b := img.Bounds(); b.Dx() != 320 || b.Dy() != 240 {
			t.Errorf("%s: PNG is %dx%d, want 320x240", name, b.Dx(), b.Dy())
		}
		// Not blank: some pixels must be far from white.
		dark := 0
		for y := 0; y < 240; y += 2 {
			for x := 0; x < 320; x += 2 {
				if r, g, b, _ := img.At(x, y).RGBA(); r+g+b < 3*0x8000 {
					dark++
				}
			}
		}
		if dark < 50 {
			t.Errorf("%s: only %d dark pixels, figure looks empty", name, dark)
		}
		svg, err := SVG(f, 320, 240)
		if err != nil {
			t.Fatalf("%s: SVG: %v", name, err)
		}
		s := strings.TrimSpace(string(svg))
		if !strings.HasPrefix(s, "<?xml") && !strings.HasPrefix(s, "<svg") {
			t.Errorf("%s: SVG starts with %q", name, s[:min(20, len(s))])
		}
		if !strings.Contains(s, "</svg>") {
			t.Errorf("%s: SVG is not closed", name)
		}
	}
}

func TestViridisAnchorsAndMonotone(t *testing.T) {
	m := Viridis()
	a := m.Anchors()
	n := len(a)
	for i, want := range a {
		if got := m.At(float64(i) / float64(n-1)); got != want {
			t.Errorf("At(%d/%d) = %v, want anchor %v", i, n-1, got, want)
		}
	}
	if m.At(-1) != a[0] || m.At(2) != a[n-1] || m.At(math.NaN()) != a[0] {
		t.Error("out-of-range values are not clamped to the end anchors")
	}
	lum := func(c color.RGBA) float64 { return 0.2126*float64(c.R) + 0.7152*float64(c.G) + 0.0722*float64(c.B) }
	prev := m.At(0)
	for k := 1; k <= 1000; k++ {
		u := float64(k) / 1000
		c := m.At(u)
		if lum(c) < lum(prev)-1 { // allow 1 unit of rounding
			t.Fatalf("luminance decreases at u=%v: %v -> %v", u, prev, c)
		}
		// Between anchors each channel lies between the two neighbouring anchors.
		i := min(int(u*float64(n-1)), n-2)
		lo, hi := a[i], a[i+1]
		for ch, v := range []uint8{c.R, c.G, c.B} {
			x, y := []uint8{lo.R, lo.G, lo.B}[ch], []uint8{hi.R, hi.G, hi.B}[ch]
			if v < min(x, y) || v > max(x, y) {
				t.Fatalf("At(%v) channel %d = %d outside [%d, %d]", u, ch, v, min(x, y), max(x, y))
			}
		}
		prev = c
	}
	// Midpoint of a two-anchor map is the average.
	two, err := NewColorMap(color.RGBA{0, 0, 0, 255}, color.RGBA{200, 100, 50, 255})
	must(t, err)
	if got := two.At(0.5); got != (color.RGBA{100, 50, 25, 255}) {
		t.Errorf("two-anchor midpoint = %v, want {100 50 25 255}", got)
	}
	if _, err := NewColorMap(color.Black); err == nil {
		t.Error("NewColorMap with one anchor: want error")
	}
}

func TestQuantilesHandComputed(t *testing.T) {
	// At time 0 the values are 1..5; at time 1 they are 10, 40, 20, 30 (sorted 10 20 30 40 50).
	paths := [][]float64{{3, 10}, {1, 40}, {5, 20}, {2, 50}, {4, 30}}
	cases := []struct {
		q    float64
		want [2]float64
	}{
		{0, [2]float64{1, 10}},
		{1, [2]float64{5, 50}},
		{0.5, [2]float64{3, 30}},
		{0.25, [2]float64{2, 20}},
		{0.1, [2]float64{1.4, 14}},   // h = 0.4: 1 + 0.4*(2-1)
		{0.95, [2]float64{4.8, 48}},  // h = 3.8: 4 + 0.8*(5-4)
		{0.625, [2]float64{3.5, 35}}, // h = 2.5
	}
	for _, c := range cases {
		got, err := Quantiles(paths, c.q)
		must(t, err)
		for i := range got {
			if math.Abs(got[i]-c.want[i]) > 1e-12 {
				t.Errorf("Quantiles(q=%v)[%d] = %v, want %v", c.q, i, got[i], c.want[i])
			}
		}
	}
	// Even count: median of {1,2,3,4} is 2.5.
	med, err := Quantiles([][]float64{{4}, {1}, {3}, {2}}, 0.5)
	must(t, err)
	if med[0] != 2.5 {
		t.Errorf("median of 1..4 = %v, want 2.5", med[0])
	}
	b, err := QuantileBand("band", paths, 0.25, 0.75)
	must(t, err)
	if b.Lower[1] != 20 || b.Upper[1] != 40 || b.Lower[0] != 2 || b.Upper[0] != 4 {
		t.Errorf("QuantileBand = %v / %v, want [2 20] / [4 40]", b.Lower, b.Upper)
	}
}

func TestSlope(t *testing.T) {
	xs := []float64{0.1, 0.05, 0.025, 0.0125}
	var ys []float64
	for _, x := range xs {
		ys = append(ys, 3*math.Pow(x, 1.5))
	}
	s, err := Slope(xs, ys)
	must(t, err)
	if math.Abs(s-1.5) > 1e-12 {
		t.Errorf("Slope = %v, want 1.5", s)
	}
	if _, err := Slope([]float64{1, 1}, []float64{1, 2}); err == nil {
		t.Error("Slope with equal xs: want error")
	}
}

func TestGIFFrames(t *testing.T) {
	frames := animationFrames(t, 5)
	data, err := GIF(frames, 160, 120, 80*time.Millisecond)
	must(t, err)
	g, err := gif.DecodeAll(bytes.NewReader(data))
	must(t, err)
	if len(g.Image) != 5 {
		t.Fatalf("GIF has %d frames, want 5", len(g.Image))
	}
	for i, d := range g.Delay {
		if d != 8 {
			t.Errorf("frame %d delay = %d, want 8 (1/100 s)", i, d)
		}
	}
	if b := g.Image[0].Bounds(); b.Dx() != 160 || b.Dy() != 120 {
		t.Errorf("GIF frame is %dx%d, want 160x120", b.Dx(), b.Dy())
	}
	path := filepath.Join(t.TempDir(), "anim.gif")
	must(t, SaveGIF(path, frames, 160, 120, 80*time.Millisecond))
	if _, err := os.Stat(path); err != nil {
		t.Error(err)
	}
	if _, err := GIF(nil, 10, 10, time.Second); err == nil {
		t.Error("GIF with no frames: want error")
	}
}

func TestSaveAtomic(t *testing.T) {
	dir := t.TempDir()
	p, err := lossSample()
	must(t, err)
	for _, name := range []string{"a.png", "b.SVG"} {
		path := filepath.Join(dir, name)
		must(t, Save(p, path, 200, 150))
		data, err := os.ReadFile(path)
		must(t, err)
		if len(data) == 0 {
			t.Errorf("%s is empty", name)
		}
	}
	// Overwriting an existing file works.
	must(t, Save(p, filepath.Join(dir, "a.png"), 100, 80))
	entries, err := os.ReadDir(dir)
	must(t, err)
	if len(entries) != 2 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only a.png and b.SVG (no temp files)", names)
	}
	// A failed rename (the target is a directory) leaves no temp file either.
	target := filepath.Join(dir, "dir.png")
	must(t, os.Mkdir(target, 0o755))
	if err := Save(p, target, 100, 80); err == nil || !strings.Contains(err.Error(), target) {
		t.Errorf("Save onto a directory: error %v should name %q", err, target)
	}
	must(t, os.Remove(target))
	entries, err = os.ReadDir(dir)
	must(t, err)
	if len(entries) != 2 {
		t.Errorf("after failed save the directory holds %d entries, want 2", len(entries))
	}
	missing := filepath.Join(dir, "no-such-dir", "x.png")
	err = Save(p, missing, 100, 80)
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("Save into missing dir: error %v should name %q", err, missing)
	}
	if err := Save(p, filepath.Join(dir, "x.jpg"), 100, 80); err == nil || !strings.Contains(err.Error(), ".jpg") {
		t.Errorf("Save .jpg: error %v should name the extension", err)
	}
	if _, err := PNG(p, 0, 10); err == nil {
		t.Error("PNG with zero width: want error")
	}
}

func TestBadInputs(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		name string
		err  func() error
		want string
	}{
		{"trajectory length", func() error {
			_, err := TrajectoryByTime("", []float64{0, 1}, []float64{0, 1}, []float64{0})
			return err
		}, "len(ys)=1"},
		{"trajectory ts length", func() error {
			_, err := TrajectoryByTime("", []float64{0}, []float64{0, 1}, []float64{0, 1})
			return err
		}, "len(ts)=1"},
		{"trajectory NaN", func() error {
			_, err := TrajectoryByTime("", []float64{0, 1}, []float64{0, nan}, []float64{0, 1})
			return err
		}, "xs[1] is NaN"},
		{"curve NaN", func() error {
			_, err := TrajectoryByTime("", nil, nil, nil, Series{Label: "true", Xs: []float64{0, 1}, Ys: []float64{math.Inf(1), 1}})
			return err
		}, `"true".Ys[0] is +Inf`},
		{"paths ragged", func() error {
			_, err := Paths("", []float64{0, 1}, [][]float64{{0, 1}, {0}}, nil)
			return err
		}, "len(paths[1])=1"},
		{"paths NaN", func() error {
			_, err := Paths("", []float64{0, 1}, [][]float64{{0, nan}}, nil)
			return err
		}, "paths[0][1] is NaN"},
		{"band length", func() error {
			_, err := Paths("", []float64{0, 1}, [][]float64{{0, 1}}, []Band{{Lower: []float64{0}, Upper: []float64{1, 2}}})
			return err
		}, "bands[0].Lower"},
		{"quantile q", func() error {
			_, err := Quantiles([][]float64{{1}}, 1.5)
			return err
		}, "q=1.5"},
		{"loss log nonpositive", func() error {
			_, err := Loss("", true, Series{Label: "train", Ys: []float64{1, 0}})
			return err
		}, `"train".Ys[1] = 0`},
		{"loss NaN", func() error {
			_, err := Loss("", false, Series{Ys: []float64{1, nan}})
			return err
		}, "series[0].Ys[1] is NaN"},
		{"loglog negative", func() error {
			_, err := LogLog("", "", "", nil, Series{Xs: []float64{1, -2}, Ys: []float64{1, 2}})
			return err
		}, "series[0].Xs[1] = -2"},
		{"grid too many", func() error {
			p, _ := lossSample()
			_, err := NewGrid("", 1, 1, p, p)
			return err
		}, "2 plots"},
		{"image size", func() error {
			_, err := NewImageGrid("", 2, 28, 28, [][]uint8{make([]uint8, 10)}, nil)
			return err
		}, "images[0]"},
		{"image labels", func() error {
			_, err := NewImageGrid("", 2, 2, 2, [][]float64{make([]float64, 4)}, []string{"a", "b"})
			return err
		}, "len(labels)=2"},
		{"image NaN", func() error {
			_, err := GrayImage([]float32{0, float32(nan), 0, 0}, 2, 2)
			return err
		}, "pix[1] is NaN"},
	}
	for _, c := range cases {
		err := c.err()
		if err == nil {
			t.Errorf("%s: want error containing %q, got nil", c.name, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not contain %q", c.name, err, c.want)
		}
	}
}

func TestGrayImage(t *testing.T) {
	img, err := GrayImage([]float64{0, 0.5, 1, 2, -1, 0.25}, 3, 2)
	must(t, err)
	want := []uint8{0, 128, 255, 255, 0, 64}
	if !bytes.Equal(img.Pix, want) {
		t.Errorf("GrayImage pixels = %v, want %v", img.Pix, want)
	}
	b, err := GrayImage([]uint8{7, 8}, 2, 1)
	must(t, err)
	if b.Pix[0] != 7 || b.Pix[1] != 8 || b.Bounds().Dx() != 2 {
		t.Errorf("GrayImage(uint8) = %v", b.Pix)
	}
}

func TestShowOutsideNotebookIsNoop(t *testing.T) {
	p, err := lossSample()
	must(t, err)
	if err := Show(p, 100, 100); err != nil {
		t.Errorf("Show outside a notebook: %v", err)
	}
	ShowPNG([]byte("x"))
	ShowGIF([]byte("x"))
}

func TestGridWithBlankCellsAndUint8Images(t *testing.T) {
	p, err := lossSample()
	must(t, err)
	g, err := NewGrid("", 2, 2, p, nil, p) // one nil and one missing cell
	must(t, err)
	if _, err := PNG(g, 300, 300); err != nil {
		t.Fatal(err)
	}
	pix := make([]uint8, 28*28)
	for i := range pix {
		pix[i] = uint8(i % 256)
	}
	ig, err := NewImageGrid("digits", 3, 28, 28, [][]uint8{pix, pix, pix, pix}, nil)
	must(t, err)
	img, err := Render(ig, 300, 200)
	must(t, err)
	if b := img.Bounds(); b.Dx() != 300 || b.Dy() != 200 {
		t.Errorf("image grid rendered %dx%d, want 300x200", b.Dx(), b.Dy())
	}
	if _, err := Render(&Grid{Rows: 0, Cols: 1}, 10, 10); err == nil || !strings.Contains(err.Error(), "rows=0") {
		t.Errorf("Render of an invalid grid: error %v should mention rows=0", err)
	}
}

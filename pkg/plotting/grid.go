package plotting

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// titleStyle returns the text style gonum uses for plot titles, resized.
func titleStyle(size vg.Length) text.Style {
	sty := plot.New().Title.TextStyle
	sty.Font.Size = size
	sty.Font.Variant = "Sans"
	return sty
}

// drawTitle draws title centred at the top of c and returns the canvas below it.
func drawTitle(c draw.Canvas, title string, size vg.Length) draw.Canvas {
	if title == "" {
		return c
	}
	sty := titleStyle(size)
	pad := vg.Points(5)
	c.FillText(sty, vg.Point{X: c.Center().X, Y: c.Max.Y - pad}, title)
	c.Max.Y -= sty.Height(title) + 2*pad
	return c
}

// Grid is a Rows×Cols grid of subplots drawn as one figure, with the data
// areas of each column and row aligned. It implements [Figure].
type Grid struct {
	// Title is drawn above the grid when not empty.
	Title string
	// Rows and Cols give the grid shape.
	Rows, Cols int
	// Plots holds the subplots in row-major order; nil (or missing) cells
	// are left blank.
	Plots []*plot.Plot
}

// NewGrid returns a rows×cols grid filled in row-major order with plots
// (fewer plots than cells leave the last cells blank).
func NewGrid(title string, rows, cols int, plots ...*plot.Plot) (*Grid, error) {
	if rows <= 0 || cols <= 0 {
		return nil, fmt.Errorf("plotting.NewGrid: rows=%d and cols=%d must be positive", rows, cols)
	}
	if len(plots) > rows*cols {
		return nil, fmt.Errorf("plotting.NewGrid: %d plots do not fit in %d×%d cells", len(plots), rows, cols)
	}
	return &Grid{Title: title, Rows: rows, Cols: cols, Plots: plots}, nil
}

// Draw implements [Figure].
func (g *Grid) Draw(c draw.Canvas) {
	if g.Rows <= 0 || g.Cols <= 0 {
		panic(fmt.Sprintf("plotting.Grid: rows=%d and cols=%d must be positive", g.Rows, g.Cols))
	}
	c = drawTitle(c, g.Title, vg.Points(15))
	cells := make([][]*plot.Plot, g.Rows)
	for r := range cells {
		cells[r] = make([]*plot.Plot, g.Cols)
		for k := range cells[r] {
			if i := r*g.Cols + k; i < len(g.Plots) {
				cells[r][k] = g.Plots[i]
			}
		}
	}
	pad := vg.Points(8)
	tiles := draw.Tiles{Rows: g.Rows, Cols: g.Cols, PadX: pad, PadY: pad, PadTop: pad / 2,
		PadBottom: pad / 2, PadLeft: pad / 2, PadRight: pad / 2}
	canvases := plot.Align(cells, tiles, c)
	// Place the legends (this may widen axis ranges, and with them the
	// tick labels), then align again with the new ranges; twice, so that
	// the placement is checked on the final layout.
	for range 2 {
		for r, row := range cells {
			for k, p := range row {
				if p != nil {
					defer fitLegend(p, canvases[r][k])()
				}
			}
		}
		canvases = plot.Align(cells, tiles, c)
	}
	for r, row := range cells {
		for k, p := range row {
			if p != nil {
				p.Draw(canvases[r][k])
			}
		}
	}
}

// Pixel is the element type of grayscale images accepted by [GrayImage]
// and [NewImageGrid]: floating-point values in [0, 1] (clamped) or bytes
// in [0, 255].
type Pixel interface {
	~float64 | ~float32 | ~uint8
}

// GrayImage builds a width×height grayscale image from row-major pixels
// (0 is black). Float pixels are clamped to [0, 1]; NaN is an error.
func GrayImage[T Pixel](pix []T, width, height int) (*image.Gray, error) {
	if width <= 0 || height <= 0 {
		return nil, fmt.Errorf("plotting.GrayImage: width=%d and height=%d must be positive", width, height)
	}
	if len(pix) != width*height {
		return nil, fmt.Errorf("plotting.GrayImage: len(pix)=%d, want width*height=%d", len(pix), width*height)
	}
	img := image.NewGray(image.Rect(0, 0, width, height))
	for i, v := range pix {
		var y uint8
		switch x := any(v).(type) {
		case uint8:
			y = x
		default:
			f := float64(v)
			if math.IsNaN(f) {
				return nil, fmt.Errorf("plotting.GrayImage: pix[%d] is NaN", i)
			}
			y = uint8(math.Round(255 * math.Max(0, math.Min(1, f))))
		}
		img.Pix[i] = y
	}
	return img, nil
}

// ImageGrid shows small images (e.g. 28×28 MNIST digits) in a grid, each
// with an optional label underneath. It implements [Figure].
type ImageGrid struct {
	// Title is drawn above the grid when not empty.
	Title string
	// Cols is the number of images per row.
	Cols int
	// Images are drawn in row-major order, scaled to fit their cell with
	// the aspect ratio kept and without smoothing.
	Images []image.Image
	// Labels, if not nil, holds one caption per image.
	Labels []string
}

// NewImageGrid returns an image grid of grayscale images, each given as
// width×height row-major pixels (see [GrayImage]), with cols images per row.
// labels may be nil or have one entry per image.
func NewImageGrid[T Pixel](title string, cols, width, height int, images [][]T, labels []string) (*ImageGrid, error) {
	if cols <= 0 {
		return nil, fmt.Errorf("plotting.NewImageGrid: cols=%d must be positive", cols)
	}
	if len(images) == 0 {
		return nil, errors.New("plotting.NewImageGrid: no images")
	}
	if labels != nil && len(labels) != len(images) {
		return nil, fmt.Errorf("plotting.NewImageGrid: length mismatch: len(labels)=%d but len(images)=%d", len(labels), len(images))
	}
	g := &ImageGrid{Title: title, Cols: cols, Labels: labels, Images: make([]image.Image, len(images))}
	for i, pix := range images {
		img, err := GrayImage(pix, width, height)
		if err != nil {
			return nil, fmt.Errorf("plotting.NewImageGrid: images[%d]: %w", i, err)
		}
		g.Images[i] = img
	}
	return g, nil
}

// Draw implements [Figure].
func (g *ImageGrid) Draw(c draw.Canvas) {
	if g.Cols <= 0 || len(g.Images) == 0 {
		panic(fmt.Sprintf("plotting.ImageGrid: need cols > 0 (got %d) and images (got %d)", g.Cols, len(g.Images)))
	}
	c = drawTitle(c, g.Title, vg.Points(14))
	rows := (len(g.Images) + g.Cols - 1) / g.Cols
	pad := vg.Points(4)
	tiles := draw.Tiles{Rows: rows, Cols: g.Cols, PadX: pad, PadY: pad,
		PadTop: pad, PadBottom: pad, PadLeft: pad, PadRight: pad}
	lsty := titleStyle(vg.Points(10))
	lsty.YAlign = draw.YBottom
	var labelH vg.Length
	if g.Labels != nil {
		labelH = lsty.Height("Ag") + vg.Points(2)
	}
	border := draw.LineStyle{Color: color.Gray{Y: 170}, Width: vg.Points(0.5)}
	for i, img := range g.Images {
		cell := tiles.At(c, i%g.Cols, i/g.Cols)
		b := img.Bounds()
		w, h := cell.Max.X-cell.Min.X, cell.Max.Y-cell.Min.Y-labelH
		if w <= 0 || h <= 0 || b.Dx() == 0 || b.Dy() == 0 {
			continue
		}
		// Scale the image to fit, and centre it with its label as one block.
		scale := math.Min(float64(w)/float64(b.Dx()), float64(h)/float64(b.Dy()))
		dw, dh := vg.Length(scale*float64(b.Dx())), vg.Length(scale*float64(b.Dy()))
		bottom := cell.Min.Y + (h-dh)/2
		if labelH > 0 {
			cell.FillText(lsty, vg.Point{X: cell.Center().X, Y: bottom}, g.Labels[i])
		}
		min := vg.Point{X: cell.Center().X - dw/2, Y: bottom + labelH}
		rect := vg.Rectangle{Min: min, Max: vg.Point{X: min.X + dw, Y: min.Y + dh}}
		cell.DrawImage(rect, upscale(img, 8))
		cell.StrokeLines(border, []vg.Point{rect.Min, {X: rect.Max.X, Y: rect.Min.Y}, rect.Max,
			{X: rect.Min.X, Y: rect.Max.Y}, rect.Min})
	}
}

// upscale enlarges img by an integer factor with nearest-neighbour sampling
// so that the renderer's smoothing keeps pixel edges sharp.
func upscale(img image.Image, k int) image.Image {
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx()*k, b.Dy()*k))
	for y := 0; y < b.Dy()*k; y++ {
		for x := 0; x < b.Dx()*k; x++ {
			out.Set(x, y, img.At(b.Min.X+x/k, b.Min.Y+y/k))
		}
	}
	return out
}

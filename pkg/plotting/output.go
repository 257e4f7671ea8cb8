package plotting

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	"image/png"
	"path/filepath"
	"strings"

	"github.com/janpfeifer/gonb/gonbui"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/gosde/gosde/internal/atomicfile"
)

// DPI is the resolution used to convert pixel sizes to physical lengths.
const DPI = 96

// Figure is anything that draws itself on a canvas: a *plot.Plot, a [*Grid]
// or an [*ImageGrid].
type Figure interface {
	Draw(c draw.Canvas)
}

// pixels converts a size in pixels to a vg.Length at [DPI].
func pixels(n int) vg.Length {
	return vg.Length(n) * vg.Inch / DPI
}

func checkSize(width, height int) error {
	if width <= 0 || height <= 0 {
		return fmt.Errorf("size must be positive, got width=%d height=%d", width, height)
	}
	if width > 1<<14 || height > 1<<14 {
		return fmt.Errorf("size too large: width=%d height=%d (max %d)", width, height, 1<<14)
	}
	return nil
}

// drawFigure draws f on c (placing the legend of a plot made by this
// package off the data, see fitLegend), turning a panic inside gonum/plot into an error.
func drawFigure(f Figure, c vg.CanvasSizer) (err error) {
	if f == nil {
		return errors.New("figure is nil")
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("drawing figure: %v", r)
		}
	}()
	dc := draw.New(c)
	if p, ok := f.(*plot.Plot); ok {
		defer fitLegend(p, dc)()
	}
	f.Draw(dc)
	return nil
}

// Render draws f on a white width×height pixel image.
func Render(f Figure, width, height int) (image.Image, error) {
	if err := checkSize(width, height); err != nil {
		return nil, fmt.Errorf("plotting.Render: %w", err)
	}
	c := vgimg.NewWith(vgimg.UseWH(pixels(width), pixels(height)), vgimg.UseDPI(DPI))
	if err := drawFigure(f, c); err != nil {
		return nil, fmt.Errorf("plotting.Render: %w", err)
	}
	return c.Image(), nil
}

// PNG renders f as a width×height pixel PNG image.
func PNG(f Figure, width, height int) ([]byte, error) {
	img, err := Render(f, width, height)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("plotting.PNG: encoding: %w", err)
	}
	return buf.Bytes(), nil
}

// SVG renders f as an SVG document of the same physical size as a
// width×height pixel PNG at [DPI].
func SVG(f Figure, width, height int) ([]byte, error) {
	if err := checkSize(width, height); err != nil {
		return nil, fmt.Errorf("plotting.SVG: %w", err)
	}
	c := vgsvg.New(pixels(width), pixels(height))
	if err := drawFigure(f, c); err != nil {
		return nil, fmt.Errorf("plotting.SVG: %w", err)
	}
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("plotting.SVG: writing: %w", err)
	}
	return buf.Bytes(), nil
}

// Save renders f and writes it to path, as PNG or SVG according to the
// extension (".png" or ".svg", case-insensitive). The file is written
// atomically: to a temporary file in the same directory, then renamed.
func Save(f Figure, path string, width, height int) error {
	var (
		data []byte
		err  error
	)
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".png":
		data, err = PNG(f, width, height)
	case ".svg":
		data, err = SVG(f, width, height)
	default:
		return fmt.Errorf("plotting.Save %q: unsupported extension %q (want .png or .svg; use SaveGIF for .gif)", path, ext)
	}
	if err != nil {
		return fmt.Errorf("plotting.Save %q: %w", path, err)
	}
	return atomicfile.Write(path, data)
}

// Show displays f inline as a width×height PNG when running inside a GoNB
// notebook, and does nothing (returning nil, without rendering) otherwise.
// End the notebook cell with gonbui.Sync() so that the image is delivered
// before the cell's program exits.
func Show(f Figure, width, height int) error {
	if !gonbui.IsNotebook {
		return nil
	}
	data, err := PNG(f, width, height)
	if err != nil {
		return fmt.Errorf("plotting.Show: %w", err)
	}
	gonbui.DisplayPNG(data)
	return nil
}

// ShowPNG displays already encoded PNG bytes inline in a GoNB notebook; it
// does nothing outside a notebook.
func ShowPNG(pngData []byte) {
	if gonbui.IsNotebook {
		gonbui.DisplayPNG(pngData)
	}
}

// ShowGIF displays an (animated) GIF, e.g. from [GIF], inline in a GoNB
// notebook as an HTML <img>; it does nothing outside a notebook.
func ShowGIF(gifData []byte) {
	if gonbui.IsNotebook {
		gonbui.DisplayHTML(`<img src="data:image/gif;base64,` + base64.StdEncoding.EncodeToString(gifData) + `"/>`)
	}
}

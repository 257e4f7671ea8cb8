package plotting

import (
	"errors"
	"image/color"
	"math"
)

// ColorMap maps a number in [0, 1] to a colour by linear interpolation (in
// RGB) between evenly spaced anchor colours.
type ColorMap struct {
	anchors []color.RGBA
}

// NewColorMap returns a colour map through the given anchors, which are
// placed evenly on [0, 1]: the first at 0, the last at 1. At least two
// anchors are needed.
func NewColorMap(anchors ...color.Color) (ColorMap, error) {
	if len(anchors) < 2 {
		return ColorMap{}, errors.New("plotting.NewColorMap: need at least 2 anchors")
	}
	m := ColorMap{anchors: make([]color.RGBA, len(anchors))}
	for i, a := range anchors {
		if a == nil {
			return ColorMap{}, errors.New("plotting.NewColorMap: nil anchor colour")
		}
		m.anchors[i] = color.RGBAModel.Convert(a).(color.RGBA)
	}
	return m, nil
}

// viridisAnchors are nine samples of the viridis colour map at
// u = 0, 1/8, ..., 1 (dark purple through blue and green to yellow). Its
// luminance increases monotonically, so it reads well in grayscale.
var viridisAnchors = []color.RGBA{
	{0x44, 0x01, 0x54, 0xff},
	{0x47, 0x2d, 0x7b, 0xff},
	{0x3b, 0x52, 0x8b, 0xff},
	{0x2c, 0x72, 0x8e, 0xff},
	{0x21, 0x91, 0x8c, 0xff},
	{0x28, 0xae, 0x80, 0xff},
	{0x5e, 0xc9, 0x62, 0xff},
	{0xad, 0xdc, 0x30, 0xff},
	{0xfd, 0xe7, 0x25, 0xff},
}

// Viridis returns the viridis colour map (dark purple at 0, yellow at 1).
func Viridis() ColorMap {
	return ColorMap{anchors: viridisAnchors}
}

// Anchors returns a copy of the map's anchor colours.
func (m ColorMap) Anchors() []color.RGBA {
	return append([]color.RGBA(nil), m.anchors...)
}

// At returns the colour at u. Values outside [0, 1] are clamped; NaN maps to
// the colour at 0. The zero ColorMap behaves like [Viridis].
func (m ColorMap) At(u float64) color.RGBA {
	a := m.anchors
	if len(a) == 0 {
		a = viridisAnchors
	}
	if math.IsNaN(u) || u <= 0 {
		return a[0]
	}
	if u >= 1 {
		return a[len(a)-1]
	}
	pos := u * float64(len(a)-1)
	i := int(pos)
	if i >= len(a)-1 {
		return a[len(a)-1]
	}
	f := pos - float64(i)
	lerp := func(x, y uint8) uint8 {
		return uint8(math.Round(float64(x) + f*(float64(y)-float64(x))))
	}
	c0, c1 := a[i], a[i+1]
	return color.RGBA{lerp(c0.R, c1.R), lerp(c0.G, c1.G), lerp(c0.B, c1.B), lerp(c0.A, c1.A)}
}

// scaler maps values in [lo, hi] to [0, 1] (0 when lo == hi).
type scaler struct{ lo, hi float64 }

func (s scaler) unit(t float64) float64 {
	if s.hi <= s.lo {
		return 0
	}
	return (t - s.lo) / (s.hi - s.lo)
}

// palette is the cycle of line colours used for series without a colour map.
var palette = []color.RGBA{
	{0x1f, 0x5f, 0xb4, 0xff}, // blue
	{0xe0, 0x6c, 0x10, 0xff}, // orange
	{0x2a, 0x9d, 0x3a, 0xff}, // green
	{0xc8, 0x25, 0x2c, 0xff}, // red
	{0x7b, 0x4f, 0xb0, 0xff}, // purple
	{0x8a, 0x56, 0x48, 0xff}, // brown
	{0xd6, 0x5f, 0xb8, 0xff}, // pink
	{0x5a, 0x5a, 0x5a, 0xff}, // gray
	{0xa8, 0xa8, 0x1e, 0xff}, // olive
	{0x16, 0xa8, 0xb8, 0xff}, // cyan
}

// PaletteColor returns the i-th colour of the package's cycle of
// distinguishable line colours (i wraps around; negative i is allowed).
func PaletteColor(i int) color.RGBA {
	n := len(palette)
	return palette[((i%n)+n)%n]
}

// withAlpha returns c with opacity a in [0, 1] (premultiplied).
func withAlpha(c color.RGBA, a float64) color.RGBA {
	m := func(x uint8) uint8 { return uint8(math.Round(float64(x) * a)) }
	return color.RGBA{m(c.R), m(c.G), m(c.B), uint8(math.Round(255 * a))}
}

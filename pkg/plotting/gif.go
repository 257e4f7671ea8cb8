package plotting

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/gif"
	"path/filepath"
	"strings"
	"time"

	colorpalette "image/color/palette"

	"github.com/gosde/gosde/internal/atomicfile"
)

// GIF renders the frames as a looping animated GIF of width×height pixels,
// showing each frame for delay (rounded to 1/100 s, at least 1/100 s).
// Colours are quantised to the Plan 9 palette with Floyd–Steinberg
// dithering.
func GIF(frames []Figure, width, height int, delay time.Duration) ([]byte, error) {
	if len(frames) == 0 {
		return nil, errors.New("plotting.GIF: no frames")
	}
	if delay < 0 {
		return nil, fmt.Errorf("plotting.GIF: delay=%v must not be negative", delay)
	}
	cs := int((delay + 5*time.Millisecond) / (10 * time.Millisecond))
	if cs < 1 {
		cs = 1
	}
	anim := &gif.GIF{LoopCount: 0}
	for i, f := range frames {
		img, err := Render(f, width, height)
		if err != nil {
			return nil, fmt.Errorf("plotting.GIF: frame %d: %w", i, err)
		}
		pal := image.NewPaletted(img.Bounds(), colorpalette.Plan9)
		draw.FloydSteinberg.Draw(pal, img.Bounds(), img, img.Bounds().Min)
		anim.Image = append(anim.Image, pal)
		anim.Delay = append(anim.Delay, cs)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, anim); err != nil {
		return nil, fmt.Errorf("plotting.GIF: encoding: %w", err)
	}
	return buf.Bytes(), nil
}

// SaveGIF renders the frames with [GIF] and writes them atomically to path,
// which must end in ".gif".
func SaveGIF(path string, frames []Figure, width, height int, delay time.Duration) error {
	if ext := strings.ToLower(filepath.Ext(path)); ext != ".gif" {
		return fmt.Errorf("plotting.SaveGIF %q: extension %q is not .gif", path, ext)
	}
	data, err := GIF(frames, width, height, delay)
	if err != nil {
		return fmt.Errorf("plotting.SaveGIF %q: %w", path, err)
	}
	return atomicfile.Write(path, data)
}

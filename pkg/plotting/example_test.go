package plotting_test

import (
	"bytes"
	"fmt"
	"image/png"
	"log"
	"math"
	"math/rand/v2"

	"github.com/gosde/gosde/pkg/plotting"
)

// Example draws sample paths of Brownian motion with a 90% quantile band
// and the exact ±1.645σ envelope, and renders it to PNG. In a GoNB notebook,
// plotting.Show(p, 640, 480) would display it inline (end the cell with
// gonbui.Sync()); plotting.Save(p, "paths.png", 640, 480) writes a file.
func Example() {
	const nPaths, nSteps = 200, 50
	ts := make([]float64, nSteps+1)
	for i := range ts {
		ts[i] = float64(i) / nSteps
	}
	rng := rand.New(rand.NewPCG(1, 2))
	paths := make([][]float64, nPaths)
	for j := range paths {
		paths[j] = make([]float64, nSteps+1)
		for i := 1; i <= nSteps; i++ {
			paths[j][i] = paths[j][i-1] + rng.NormFloat64()*math.Sqrt(1.0/nSteps)
		}
	}
	band, err := plotting.QuantileBand("5%–95% quantiles", paths, 0.05, 0.95)
	if err != nil {
		log.Fatal(err)
	}
	envelope := plotting.PaletteColor(3)
	upper := plotting.Series{Label: "±1.645 √t", Xs: ts, Dashed: true, Color: envelope}
	lower := plotting.Series{Xs: ts, Dashed: true, Color: envelope}
	for _, t := range ts {
		upper.Ys = append(upper.Ys, 1.645*math.Sqrt(t))
		lower.Ys = append(lower.Ys, -1.645*math.Sqrt(t))
	}
	p, err := plotting.Paths("Brownian motion", ts, paths, []plotting.Band{band}, upper, lower)
	if err != nil {
		log.Fatal(err)
	}
	data, err := plotting.PNG(p, 640, 480)
	if err != nil {
		log.Fatal(err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%dx%d PNG\n", cfg.Width, cfg.Height)
	// Output: 640x480 PNG
}

// ExampleQuantiles computes per-time quantiles across three paths.
func ExampleQuantiles() {
	paths := [][]float64{
		{0, 1, 4},
		{0, 3, 2},
		{0, 2, 6},
	}
	median, _ := plotting.Quantiles(paths, 0.5)
	q25, _ := plotting.Quantiles(paths, 0.25)
	fmt.Println(median, q25)
	// Output: [0 2 4] [0 1.5 3]
}

// ExampleSlope estimates a convergence order from errors at several step sizes.
func ExampleSlope() {
	dts := []float64{0.1, 0.05, 0.025}
	errs := []float64{0.02, 0.01, 0.005}
	order, _ := plotting.Slope(dts, errs)
	fmt.Printf("order %.2f\n", order)
	// Output: order 1.00
}

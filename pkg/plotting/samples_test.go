package plotting

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/plot"
)

// Sample data shared by the tests.

// spiral returns n noisy observations of a spiral on [0, tmax] and the true curve.
func spiral(n int, tmax, phase float64, rng *rand.Rand) (ts, xs, ys []float64, truth Series) {
	f := func(t float64) (float64, float64) {
		r := 1 + 0.25*t
		return r * math.Cos(t+phase), r * math.Sin(t+phase)
	}
	for i := 0; i < n; i++ {
		t := tmax * float64(i) / float64(n-1)
		x, y := f(t)
		ts = append(ts, t)
		xs = append(xs, x+0.08*rng.NormFloat64())
		ys = append(ys, y+0.08*rng.NormFloat64())
	}
	truth = Series{Label: "true"}
	for i := 0; i <= 200; i++ {
		t := tmax * float64(i) / 200
		x, y := f(t)
		truth.Xs, truth.Ys = append(truth.Xs, x), append(truth.Ys, y)
	}
	return
}

func trajectorySample() (*plot.Plot, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	ts, xs, ys, truth := spiral(60, 6, 0, rng)
	pred := Series{Label: "predicted", Dashed: true}
	for i := 0; i <= 200; i++ {
		t := 6 * float64(i) / 200
		r := 1 + 0.23*t
		pred.Xs = append(pred.Xs, r*math.Cos(t*1.02))
		pred.Ys = append(pred.Ys, r*math.Sin(t*1.02))
		pred.Ts = append(pred.Ts, t)
	}
	return TrajectoryByTime("Spiral: observations coloured by time", ts, xs, ys, truth, pred)
}

// gbmPaths simulates geometric Brownian motion paths (Euler–Maruyama).
func gbmPaths(nPaths, nSteps int) (ts []float64, paths [][]float64) {
	rng := rand.New(rand.NewPCG(3, 4))
	dt := 1.0 / float64(nSteps)
	ts = steps(nSteps + 1)
	for i := range ts {
		ts[i] *= dt
	}
	for j := 0; j < nPaths; j++ {
		x := make([]float64, nSteps+1)
		x[0] = 1
		for i := 1; i <= nSteps; i++ {
			x[i] = x[i-1] + 0.5*x[i-1]*dt + 0.8*x[i-1]*math.Sqrt(dt)*rng.NormFloat64()
		}
		paths = append(paths, x)
	}
	return
}

func pathsSample() (*plot.Plot, error) {
	ts, paths := gbmPaths(200, 100)
	b90, err := QuantileBand("5%–95% quantiles", paths, 0.05, 0.95)
	if err != nil {
		return nil, err
	}
	b50, err := QuantileBand("25%–75% quantiles", paths, 0.25, 0.75)
	if err != nil {
		return nil, err
	}
	mean := Series{Label: "exact mean", Xs: ts, Color: PaletteColor(3)}
	for _, t := range ts {
		mean.Ys = append(mean.Ys, math.Exp(0.5*t))
	}
	return Paths("Geometric Brownian motion", ts, paths, []Band{b90, b50}, mean)
}

func lossSample() (*plot.Plot, error) {
	train := Series{Label: "train"}
	valid := Series{Label: "validation", Xs: []float64{}}
	for i := 0; i < 500; i++ {
		train.Ys = append(train.Ys, 2*math.Exp(-float64(i)/80)+0.05+0.02*math.Abs(math.Sin(float64(i))))
		if i%25 == 0 {
			valid.Xs = append(valid.Xs, float64(i))
			valid.Ys = append(valid.Ys, 2.1*math.Exp(-float64(i)/90)+0.08)
		}
	}
	return Loss("Training loss", true, train, valid)
}

func convergenceSample() (*plot.Plot, error) {
	dts := []float64{0.2, 0.1, 0.05, 0.025, 0.0125, 0.00625}
	var em, mil []float64
	for _, dt := range dts {
		em = append(em, 0.9*math.Sqrt(dt))
		mil = append(mil, 0.7*dt)
	}
	return LogLog("Strong convergence", "step size Δt", "strong error", []float64{0.5, 1},
		Series{Label: "Euler–Maruyama", Xs: dts, Ys: em},
		Series{Label: "Milstein", Xs: dts, Ys: mil})
}

func gridSample() (*Grid, error) {
	rng := rand.New(rand.NewPCG(5, 6))
	var plots []*plot.Plot
	for k := 0; k < 9; k++ {
		ts, xs, ys, truth := spiral(30, 5, float64(k)*0.7, rng)
		p, err := TrajectoryByTime(fmt.Sprintf("spiral %d", k), ts, xs, ys, truth)
		if err != nil {
			return nil, err
		}
		if k > 0 {
			HideLegend(p) // one legend, in the first panel
		}
		plots = append(plots, p)
	}
	return NewGrid("3×3 spirals", 3, 3, plots...)
}

// digit draws a crude 28×28 ring or bar image.
func digit(k int) []float64 {
	pix := make([]float64, 28*28)
	for y := 0; y < 28; y++ {
		for x := 0; x < 28; x++ {
			dx, dy := float64(x)-13.5, float64(y)-13.5
			r := math.Hypot(dx, dy)
			var v float64
			if k%2 == 0 {
				v = math.Exp(-math.Pow(r-8, 2) / 4)
			} else {
				v = math.Exp(-dx * dx / 4)
				if math.Abs(dy) > 10 {
					v = 0
				}
			}
			pix[y*28+x] = v
		}
	}
	return pix
}

func imageGridSample() (*ImageGrid, error) {
	var imgs [][]float64
	var labels []string
	for k := 0; k < 10; k++ {
		imgs = append(imgs, digit(k))
		labels = append(labels, fmt.Sprintf("label %d", k%2))
	}
	return NewImageGrid("Samples", 5, 28, 28, imgs, labels)
}

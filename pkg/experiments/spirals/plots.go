package spirals

import (
	"fmt"

	"gonum.org/v1/plot"

	data "github.com/gosde/gosde/pkg/datasets/spirals"
	"github.com/gosde/gosde/pkg/plotting"
)

// xy returns the x and y coordinates of the first n points of flat (x, y)
// pairs starting at point offset.
func xy(v []float64, offset, n int) (xs, ys []float64) {
	xs, ys = make([]float64, n), make([]float64, n)
	for i := range n {
		xs[i], ys[i] = v[2*(offset+i)], v[2*(offset+i)+1]
	}
	return xs, ys
}

// ReconstructionGrid draws, for each spiral idx[i] of d (up to 9, in a 3×3
// grid), the first nObs observations as dots coloured by time, the true
// curve over total points (dashed) and the model's reconstruction and
// extrapolation from those observations. The first panel carries the legend.
func ReconstructionGrid(l *Learner, d *data.Dataset, idx []int, nObs, total int) (*plotting.Grid, error) {
	if len(idx) == 0 || len(idx) > 9 {
		return nil, fmt.Errorf("spirals.ReconstructionGrid: want 1 to 9 spirals, got %d", len(idx))
	}
	b, err := d.Prefix(idx, nObs, total)
	if err != nil {
		return nil, fmt.Errorf("spirals.ReconstructionGrid: %w", err)
	}
	p, err := l.Predict(b, nil)
	if err != nil {
		return nil, fmt.Errorf("spirals.ReconstructionGrid: %w", err)
	}
	plots := make([]*plot.Plot, len(idx))
	for s, i := range idx {
		ox, oy := xy(b.Obs, s*total, nObs)
		tx, ty := xy(b.Clean, s*total, total)
		px, py := xy(p.Pred, s*total, total)
		dir := "ccw"
		if d.Clockwise[i] {
			dir = "cw"
		}
		plots[s], err = plotting.TrajectoryByTime(fmt.Sprintf("spiral %d (%s)", i, dir), b.Ts[:nObs], ox, oy,
			plotting.Series{Label: "true", Xs: tx, Ys: ty, Dashed: true},
			plotting.Series{Label: "latent ODE", Xs: px, Ys: py})
		if err != nil {
			return nil, fmt.Errorf("spirals.ReconstructionGrid: %w", err)
		}
		if s > 0 {
			plotting.HideLegend(plots[s]) // the same legend in every panel: keep the first
		}
	}
	rows := (len(idx) + 2) / 3
	return plotting.NewGrid(fmt.Sprintf("reconstruction (first %d points observed) and extrapolation to %d", nObs, total), rows, min(3, len(idx)), plots...)
}

// Homotopy encodes spirals a and b of d (from their first nObs
// observations), interpolates z0 linearly between the two posterior means
// in steps points (including both ends) and decodes each over total points.
// It returns the decoded trajectories, flat (steps, total, 2).
func Homotopy(l *Learner, d *data.Dataset, a, b, nObs, total, steps int) ([]float64, error) {
	if steps < 2 {
		return nil, fmt.Errorf("spirals.Homotopy: steps must be ≥ 2, got %d", steps)
	}
	bt, err := d.Prefix([]int{a, b}, nObs, nObs)
	if err != nil {
		return nil, fmt.Errorf("spirals.Homotopy: %w", err)
	}
	p, err := l.Predict(bt, nil)
	if err != nil {
		return nil, fmt.Errorf("spirals.Homotopy: %w", err)
	}
	L := l.Model.cfg.Latent
	z := make([]float64, 0, steps*L)
	for k := range steps {
		w := float64(k) / float64(steps-1)
		for j := range L {
			z = append(z, (1-w)*p.Z0[j]+w*p.Z0[L+j])
		}
	}
	ts := make([]float64, total)
	for j := range ts {
		ts[j] = float64(j) * (d.Ts[1] - d.Ts[0])
	}
	return l.Decode(z, ts)
}

// HomotopyGrid draws Homotopy's trajectories as a grid of plots (2 rows),
// from spiral a (first) to spiral b (last), coloured by time.
func HomotopyGrid(l *Learner, d *data.Dataset, a, b, nObs, total, steps int) (*plotting.Grid, error) {
	traj, err := Homotopy(l, d, a, b, nObs, total, steps)
	if err != nil {
		return nil, err
	}
	ts := make([]float64, total)
	for j := range ts {
		ts[j] = float64(j) * (d.Ts[1] - d.Ts[0])
	}
	plots := make([]*plot.Plot, steps)
	for k := range steps {
		xs, ys := xy(traj, k*total, total)
		plots[k], err = plotting.TrajectoryByTime(fmt.Sprintf("α = %.2f", float64(k)/float64(steps-1)), nil, nil, nil,
			plotting.Series{Xs: xs, Ys: ys, Ts: ts})
		if err != nil {
			return nil, fmt.Errorf("spirals.HomotopyGrid: %w", err)
		}
	}
	cols := (steps + 1) / 2
	return plotting.NewGrid(fmt.Sprintf("z0 homotopy: spiral %d (α=0) → spiral %d (α=1)", a, b), 2, cols, plots...)
}

// LossPlot draws a training loss curve (steps first+1, first+2, …).
func LossPlot(losses []float64, first int) (*plot.Plot, error) {
	xs := make([]float64, len(losses))
	for i := range xs {
		xs[i] = float64(first + i + 1)
	}
	return plotting.Loss("latent ODE training loss (−ELBO per observation)", true, plotting.Series{Label: "loss", Xs: xs, Ys: losses})
}

// FirstOfEach returns the first clockwise and the first counter-clockwise
// spiral of d (-1 when there is none).
func FirstOfEach(d *data.Dataset) (cw, ccw int) {
	cw, ccw = -1, -1
	for i, c := range d.Clockwise {
		if c && cw < 0 {
			cw = i
		}
		if !c && ccw < 0 {
			ccw = i
		}
	}
	return cw, ccw
}

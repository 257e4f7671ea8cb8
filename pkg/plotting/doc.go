// Package plotting draws the figures used by gosde's tutorials and CLI with
// gonum.org/v1/plot: trajectories coloured by time, sample paths with
// quantile bands, loss curves, log-log convergence plots, grids of subplots,
// grids of small grayscale images and animated GIFs.
//
// The package takes plain float64 slices and does not depend on GoMLX.
//
// Every figure kind implements [Figure] (a *plot.Plot does too), and is
// rendered with [PNG], [SVG], [Render] or [Save], which chooses PNG or SVG
// from the file extension and writes atomically. Sizes are given in pixels
// (at 96 DPI; SVG uses the same physical size).
//
// Inside a GoNB notebook, [Show] displays a figure inline (it does nothing
// outside a notebook). Notebook cells that display figures should end with
// gonbui.Sync() (from github.com/janpfeifer/gonb/gonbui) so that all pending
// output reaches the notebook before the cell's program exits.
//
// Colours that encode time come from a [ColorMap]; [Viridis] is a
// perceptually ordered map interpolated from a small table of anchors.
package plotting

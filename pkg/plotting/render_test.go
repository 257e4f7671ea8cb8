package plotting

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRenderSamples writes one sample of each figure kind to the directory
// named by $PLOTTING_SAMPLES (skipped when unset), for looking at them.
func TestRenderSamples(t *testing.T) {
	dir := os.Getenv("PLOTTING_SAMPLES")
	if dir == "" {
		t.Skip("set PLOTTING_SAMPLES=dir to write sample figures")
	}
	for name, f := range kindSamples(t) {
		w, h := 720, 540
		if name == "grid" {
			w, h = 900, 900
		}
		must(t, Save(f, filepath.Join(dir, name+".png"), w, h))
		must(t, Save(f, filepath.Join(dir, name+".svg"), w, h))
	}
	frames := animationFrames(t, 12)
	must(t, SaveGIF(filepath.Join(dir, "anim.gif"), frames, 400, 300, 100*time.Millisecond))
}

// kindSamples builds the sample figure of each kind: "trajectory", "paths",
// "loss", "convergence", "grid" and "images".
func kindSamples(t *testing.T) map[string]Figure {
	t.Helper()
	traj, err := trajectorySample()
	must(t, err)
	paths, err := pathsSample()
	must(t, err)
	loss, err := lossSample()
	must(t, err)
	conv, err := convergenceSample()
	must(t, err)
	grid, err := gridSample()
	must(t, err)
	imgs, err := imageGridSample()
	must(t, err)
	return map[string]Figure{"trajectory": traj, "paths": paths, "loss": loss,
		"convergence": conv, "grid": grid, "images": imgs}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

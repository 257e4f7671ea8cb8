package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/gosde/gosde/pkg/adjoint"
	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/diffeq"
	"github.com/gosde/gosde/pkg/experiments/spirals"
)

// TestSegmentedCosineData checks torchsde's example data: 22 times (0, ten
// on [0.3, 0.8], ten on [1.2, 1.5], 2), values cos(2πt), and a mask that
// leaves out exactly the first and last time in every row.
func TestSegmentedCosineData(t *testing.T) {
	d, err := SegmentedCosineData(3)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]float64{0: 0, 1: 0.3, 10: 0.8, 11: 1.2, 20: 1.5, 21: 2}
	if len(d.Ts) != 22 {
		t.Fatalf("%d times, want 22", len(d.Ts))
	}
	for i, v := range want {
		if math.Abs(d.Ts[i]-v) > 1e-12 {
			t.Errorf("ts[%d] = %g, want %g", i, d.Ts[i], v)
		}
	}
	if h := d.Ts[2] - d.Ts[1]; math.Abs(h-0.5/9) > 1e-12 {
		t.Errorf("spacing on [0.3, 0.8] = %g, want %g", h, 0.5/9)
	}
	x, err := diffeq.Float64s(d.X)
	if err != nil {
		t.Fatal(err)
	}
	mask, err := diffeq.Float64s(d.Mask)
	if err != nil {
		t.Fatal(err)
	}
	if len(x) != 3*22 || len(mask) != 3*22 {
		t.Fatalf("X has %d values, Mask %d, want 66", len(x), len(mask))
	}
	for r := range 3 {
		for i, ts := range d.Ts {
			k := r*22 + i
			if math.Abs(x[k]-math.Cos(2*math.Pi*ts)) > 1e-6 {
				t.Errorf("X[%d][%d] = %g, want cos(2π·%g) = %g", r, i, x[k], ts, math.Cos(2*math.Pi*ts))
			}
			wantMask := 1.0
			if i == 0 || i == 21 {
				wantMask = 0
			}
			if mask[k] != wantMask {
				t.Errorf("Mask[%d][%d] = %g, want %g", r, i, mask[k], wantMask)
			}
		}
	}
	if _, err := SegmentedCosineData(0); err == nil || !strings.Contains(err.Error(), "batch") {
		t.Errorf("SegmentedCosineData(0): error %v, want one naming batch", err)
	}
}

// TestPeerRowsLookup checks that the variants are found by name, are not
// part of `--rows all`, and do not collide with the table's rows.
func TestPeerRowsLookup(t *testing.T) {
	all, err := Select("all")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, r := range all {
		names[r.Name] = true
	}
	for _, p := range PeerRows() {
		if names[p.Name] {
			t.Errorf("peer row %s is also in Rows()", p.Name)
		}
		if r, ok := Lookup(p.Name); !ok || r.Setting != p.Setting || r.Run == nil {
			t.Errorf("Lookup(%q) = %v, %v", p.Name, r.Name, ok)
		}
	}
	if rows, err := Select("latode-ex,oukl1000"); err != nil || len(rows) != 2 {
		t.Errorf("Select of peer rows: %v, %v", rows, err)
	}
}

// TestLatentSDEExampleGrid checks the example's grid against its step count
// by hand: ceil(length/0.01) steps per interval, 30 + 9·6 + 40 + 9·4 + 50 =
// 210, and one training step of each method on a small batch.
func TestLatentSDEExampleGrid(t *testing.T) {
	for _, m := range []adjoint.Method{adjoint.Direct, adjoint.Adjoint} {
		step, steps, err := latentSDEStep(backend.Shared(), m, 4)
		if err != nil {
			t.Fatal(err)
		}
		if steps != 210 {
			t.Errorf("%s: %d Euler steps, want 210", m, steps)
		}
		if err := step(); err != nil {
			t.Errorf("%s: step: %v", m, err)
		}
	}
	if _, _, err := latentSDEStep(backend.Shared(), adjoint.Reversible, 4); err == nil {
		t.Error("latentSDEStep accepted adjoint.Reversible")
	}
}

// TestLatentODEExampleSetting checks the example's spiral setting: 500
// points on [0, 6π] (a sample spacing of 6π/499, so 100 samples span 3.7397)
// and 1000 training spirals after the held-out split.
func TestLatentODEExampleSetting(t *testing.T) {
	cfg := spirals.BenchConfig(adjoint.Direct)
	latentODEExample(&cfg)
	if cfg.Data.Points != 500 || math.Abs(cfg.Data.TMax-6*math.Pi) > 1e-12 || cfg.Batch != 1000 {
		t.Fatalf("setting %+v", cfg.Data)
	}
	if span := 99 * cfg.Data.TMax / float64(cfg.Data.Points-1); math.Abs(span-3.7397) > 1e-4 {
		t.Errorf("100 samples span %g, want 3.7397", span)
	}
	// Split keeps index i when i % round(1/HeldOutFrac) != 0.
	k := int(math.Round(1 / cfg.HeldOutFrac))
	train := 0
	for i := range cfg.Data.N {
		if i%k != 0 {
			train++
		}
	}
	if train != 1000 {
		t.Errorf("%d training spirals, want 1000", train)
	}
}

// TestOUKL1000Steps runs the oukl1000 row once: 101 save times give
// exactly 1000 Euler steps of 1e-3, and the KL estimate is finite.
func TestOUKL1000Steps(t *testing.T) {
	r, err := ouKL(backend.Shared(), Options{Repeats: 1, Warmup: -1}, "oukl1000", 101)
	if err != nil {
		t.Fatal(err)
	}
	if r.Row != "oukl1000" || r.NFE != 1000 || !(r.Value.Median > 0) {
		t.Fatalf("result %+v", r)
	}
	if strings.Contains(r.String(), "target") {
		t.Errorf("a peer row without anchor prints a target verdict: %s", r.String())
	}
}

// TestRandomCrops checks every crop against its source image: the crop is
// the image shifted by one offset in [−4, 4]² with zeros filling in, in
// [0, 1] (pixel/255); offsets vary; a bad index is refused by name.
func TestRandomCrops(t *testing.T) {
	set, err := mnistTrainSet()
	if err != nil {
		t.Fatal(err)
	}
	idx := []int{0, 1, 2, 3, 4, 5, 6, 7}
	x, err := RandomCrops(set, idx, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	v := tensors.MustCopyFlatData[float32](x)
	n := set.Rows * set.Cols
	offsets := map[[2]int]bool{}
	for i, k := range idx {
		img, crop := set.Image(k), v[i*n:(i+1)*n]
		found := false
		for dy := -CropPad; dy <= CropPad && !found; dy++ {
			for dx := -CropPad; dx <= CropPad && !found; dx++ {
				ok := true
				for r := 0; r < set.Rows && ok; r++ {
					for c := 0; c < set.Cols && ok; c++ {
						want := float32(0)
						if sr, sc := r+dy, c+dx; sr >= 0 && sr < set.Rows && sc >= 0 && sc < set.Cols {
							want = float32(img[sr*set.Cols+sc]) / 255
						}
						ok = crop[r*set.Cols+c] == want
					}
				}
				if ok {
					found = true
					offsets[[2]int{dy, dx}] = true
				}
			}
		}
		if !found {
			t.Errorf("crop %d is no shift of image %d within ±%d", i, k, CropPad)
		}
	}
	if len(offsets) < 2 {
		t.Errorf("8 crops used %d distinct offsets", len(offsets))
	}
	if _, err := RandomCrops(set, []int{set.N}, rand.New(rand.NewPCG(1, 2))); err == nil || !strings.Contains(err.Error(), "idx[0]") {
		t.Errorf("index N: error %v, want one naming idx[0]", err)
	}
}

// TestMNISTExampleSmallBatch runs the example-setting MNIST rows on a batch
// of 4: a positive throughput, backward evaluations only for the adjoint.
func TestMNISTExampleSmallBatch(t *testing.T) {
	set, err := mnistTrainSet()
	if err != nil {
		t.Fatal(err)
	}
	set = set.Subset(64)
	for _, m := range []adjoint.Method{adjoint.Direct, adjoint.Adjoint} {
		r, err := mnistExample(backend.Shared(), m, set, 4, Options{Repeats: 1, Warmup: -1})
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		if !(r.Value.Median > 0) || math.IsInf(r.Value.Median, 0) || r.NFE < 7 {
			t.Fatalf("%s: result %+v", m, r)
		}
		if hasBackward := !strings.Contains(r.Note, "backward 0.0"); hasBackward != (m == adjoint.Adjoint) {
			t.Fatalf("%s: note %q", m, r.Note)
		}
	}
	if _, err := mnistExample(backend.Shared(), adjoint.Reversible, set, 4, Options{}); err == nil {
		t.Fatal("reversible: no error")
	}
}

// ExampleSegmentedCosineData shows torchsde's example data: 22 solver
// times, of which the first and the last are left out of the likelihood.
func ExampleSegmentedCosineData() {
	d, err := SegmentedCosineData(2)
	if err != nil {
		fmt.Println(err)
		return
	}
	mask, _ := diffeq.Float64s(d.Mask)
	observed := 0
	for _, m := range mask[:len(d.Ts)] {
		observed += int(m)
	}
	fmt.Printf("%d times on [%g, %g], %d observed; shape %v\n", len(d.Ts), d.Ts[0], d.Ts[len(d.Ts)-1], observed, d.X.Shape().Dimensions)
	// Output: 22 times on [0, 2], 20 observed; shape [2 22 1]
}

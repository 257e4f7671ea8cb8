package spirals

import (
	"fmt"
	"math"
	"math/rand/v2"

	data "github.com/gosde/gosde/pkg/datasets/spirals"
)

// Evaluation holds held-out figures of a trained learner. All RMSEs are per
// coordinate, against the noise-free trajectories.
type Evaluation struct {
	// Spirals is the number of held-out spirals used.
	Spirals int
	// ObsPoints and TotalPoints: the model sees the first ObsPoints (50)
	// observations and predicts TotalPoints (200).
	ObsPoints, TotalPoints int
	// ReconRMSE is the error on the observed part (reconstruction),
	// ExtrapRMSE on the rest (extrapolation).
	ReconRMSE, ExtrapRMSE float64
	// BaselineRMSE is the extrapolation error of repeating the last
	// observed point.
	BaselineRMSE float64
	// Interp maps a number of observed points k (30, 50, 100) of a random
	// 100-point sub-span to the RMSE of the reconstruction over the span's
	// grid points between the first and last observation (Rubanova et al.
	// 2019's interpolation task).
	Interp map[int]float64
}

// String formats the evaluation; its last line reads
// "extrapolation rmse X baseline Y".
func (e *Evaluation) String() string {
	s := fmt.Sprintf("held-out spirals: %d (observe the first %d of %d points)\n", e.Spirals, e.ObsPoints, e.TotalPoints)
	s += fmt.Sprintf("reconstruction rmse %.4f\n", e.ReconRMSE)
	for _, k := range []int{30, 50, 100} {
		if v, ok := e.Interp[k]; ok {
			s += fmt.Sprintf("interpolation rmse (%d of 100 points observed) %.4f\n", k, v)
		}
	}
	s += fmt.Sprintf("extrapolation rmse %.4f baseline %.4f", e.ExtrapRMSE, e.BaselineRMSE)
	return s
}

// evalBatch is the number of spirals per evaluation call.
const evalBatch = 50

// Evaluate computes the held-out figures on every spiral of heldOut: the
// model observes the first 50 points and predicts 200 (from q's mean), and
// the Rubanova-style interpolation errors with 30, 50 and 100 of a random
// 100-point sub-span observed (sampled with seed).
func Evaluate(l *Learner, heldOut *data.Dataset, seed uint64) (*Evaluation, error) {
	const nObs, total = 50, 200
	if heldOut == nil || heldOut.Len() == 0 {
		return nil, fmt.Errorf("spirals.Evaluate: no held-out spirals")
	}
	e := &Evaluation{Spirals: heldOut.Len(), ObsPoints: nObs, TotalPoints: total, Interp: map[int]float64{}}
	var recon, extrap, base rmse
	for lo := 0; lo < heldOut.Len(); lo += evalBatch {
		idx := seq(lo, min(lo+evalBatch, heldOut.Len()))
		b, err := heldOut.Prefix(idx, nObs, total)
		if err != nil {
			return nil, err
		}
		p, err := l.Predict(b, nil)
		if err != nil {
			return nil, err
		}
		for s := range idx {
			last := 2 * (s*total + nObs - 1)
			for j := 0; j < total; j++ {
				q := 2 * (s*total + j)
				for c := 0; c < 2; c++ {
					if j < nObs {
						recon.add(p.Pred[q+c] - b.Clean[q+c])
					} else {
						extrap.add(p.Pred[q+c] - b.Clean[q+c])
						base.add(b.Obs[last+c] - b.Clean[q+c])
					}
				}
			}
		}
	}
	e.ReconRMSE, e.ExtrapRMSE, e.BaselineRMSE = recon.value(), extrap.value(), base.value()
	if len(heldOut.Ts) >= 100 {
		rng := rand.New(rand.NewPCG(seed, 0xe7a1))
		for _, k := range []int{30, 50, 100} {
			v, err := interpRMSE(l, heldOut, k, rng)
			if err != nil {
				return nil, err
			}
			e.Interp[k] = v
		}
	}
	return e, nil
}

// interpRMSE: observe k of a random 100-point sub-span of every held-out
// spiral; error over the grid from the first to the last observation.
func interpRMSE(l *Learner, heldOut *data.Dataset, k int, rng *rand.Rand) (float64, error) {
	var acc rmse
	for lo := 0; lo < heldOut.Len(); lo += evalBatch {
		idx := seq(lo, min(lo+evalBatch, heldOut.Len()))
		b, err := heldOut.Sample(rng, len(idx), data.SampleOptions{Span: 100, Keep: []int{k}})
		if err != nil {
			return 0, err
		}
		// Sample draws spirals at random; evaluate on these ones instead.
		kept := make([][]int, len(idx))
		for s := range idx {
			for j := 0; j < b.Len; j++ {
				if b.Mask[s*b.Len+j] == 1 {
					kept[s] = append(kept[s], b.Start[s]+j)
				}
			}
		}
		if b, err = heldOut.Batch(idx, kept, b.Len); err != nil {
			return 0, err
		}
		p, err := l.Predict(b, nil)
		if err != nil {
			return 0, err
		}
		for s := range idx {
			lastObs := kept[s][len(kept[s])-1] - kept[s][0]
			for j := 0; j <= lastObs; j++ {
				q := 2 * (s*b.Len + j)
				acc.add(p.Pred[q] - b.Clean[q])
				acc.add(p.Pred[q+1] - b.Clean[q+1])
			}
		}
	}
	return acc.value(), nil
}

// rmse accumulates squared errors.
type rmse struct {
	sum float64
	n   int
}

func (r *rmse) add(d float64) { r.sum += d * d; r.n++ }

func (r rmse) value() float64 {
	if r.n == 0 {
		return math.NaN()
	}
	return math.Sqrt(r.sum / float64(r.n))
}

func seq(lo, hi int) []int {
	out := make([]int, 0, hi-lo)
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out
}

package latentsde

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/gosde/gosde/pkg/adjoint"
	"github.com/gosde/gosde/pkg/diffeq"
)

// spiralData returns n noisy 2-D spirals (rotating at angular speed 1.5)
// with random phases, observed at ts, half of the second sample's
// observations masked out.
func spiralData(n int, ts []float64) Data {
	x := make([]float64, 0, n*len(ts)*2)
	mask := make([]float64, 0, n*len(ts)*2)
	for i := range n {
		phase := float64(i) * 0.7
		for k, t := range ts {
			r := 1 - 0.2*t
			x = append(x, r*math.Cos(1.5*t+phase), r*math.Sin(1.5*t+phase))
			m := 1.0
			if i == 1 && k%2 == 1 {
				m = 0
			}
			mask = append(mask, m, m)
		}
	}
	return Data{Ts: ts, X: diffeq.FromFloat64s(dtypes.Float64, x, n, len(ts), 2), Mask: diffeq.FromFloat64s(dtypes.Float64, mask, n, len(ts), 2)}
}

// TestLatentODE: the ODE adjoint's gradients of the latent ODE's negative
// ELBO match backprop through the solve, and a few Adam steps lower the loss.
func TestLatentODE(t *testing.T) {
	m, err := NewLatentODE(ODEConfig{DataDim: 2, LatentDim: 3, EncoderHidden: 8, Hidden: []int{16}, DecoderHidden: []int{8}, DType: dtypes.Float64, Dt: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	data := spiralData(6, Linspace(0, 2, 9))
	in, err := m.AdjointInputs(data, 1, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.New()
	// A fixed seed: the weights' initialisation (and so the loss curve) must
	// not change from run to run.
	if err := ctx.SetRNGStateFromSeed(3); err != nil {
		t.Fatal(err)
	}
	var grads [2][]float64
	var trainers [2]*adjoint.Trainer
	for i, method := range []adjoint.Method{adjoint.Direct, adjoint.Adjoint} {
		tr, err := adjoint.NewTrainer(testBackend(), ctx, m.AdjointModel(data.Ts), adjoint.TrainerConfig{Method: method,
			Solver: diffeq.Options{Method: diffeq.RK4, Dt: 0.05}, Optimizer: optimizers.Adam().LearningRate(1e-2).Done()})
		if err != nil {
			t.Fatal(err)
		}
		_, gs, err := tr.Gradients(in, data.Ts)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		for _, g := range gs {
			v, _ := diffeq.Float64s(g)
			grads[i] = append(grads[i], v...)
		}
		trainers[i] = tr
	}
	var num, den float64
	for j := range grads[0] {
		num += (grads[0][j] - grads[1][j]) * (grads[0][j] - grads[1][j])
		den += grads[0][j] * grads[0][j]
	}
	if rel := math.Sqrt(num / den); rel > 1e-4 || len(grads[0]) == 0 {
		t.Errorf("adjoint vs direct gradients: relative difference %.3g over %d entries", rel, len(grads[0]))
	}
	var first, last float64
	for s := range 40 {
		in, _ := m.AdjointInputs(data, 1, 3, uint64(s))
		loss, err := trainers[0].Step(in, data.Ts)
		if err != nil {
			t.Fatal(err)
		}
		if s == 0 {
			first = loss
		}
		last = loss
	}
	t.Logf("loss %g → %g", first, last)
	if !(last < 0.5*first) {
		t.Errorf("loss did not halve in 40 steps: %g → %g", first, last)
	}
	// ELBOGraph (direct, in-graph) on the same inputs gives a finite loss
	// and the KL term of its own definition.
	e := context.MustNewExec(testBackend(), ctx, func(ctx *context.Context, x, mask, eps0, w *Node) []*Node {
		terms, err := m.ELBOGraph(ctx, Observations{X: x, Mask: mask, Ts: data.Ts}, eps0, w)
		if err != nil {
			panic(err)
		}
		qm, qlv := m.Encode(ctx, Observations{X: x, Mask: mask, Ts: data.Ts})
		return []*Node{terms.Loss, terms.KL, graph.ReduceAllMean(StandardNormalKL(qm, qlv))}
	})
	out, err := e.Exec(in[0], in[1], in[2], in[3])
	if err != nil {
		t.Fatal(err)
	}
	loss, kl, kl2 := out[0].Value().(float64), out[1].Value().(float64), out[2].Value().(float64)
	if math.IsNaN(loss) || math.Abs(kl-kl2) > 1e-12 {
		t.Errorf("ELBOGraph: loss %g, KL %g vs %g", loss, kl, kl2)
	}
}

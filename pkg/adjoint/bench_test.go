package adjoint_test

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/pkg/adjoint"
	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/diffeq"
)

// benchMLP is Linear(8, 64)–tanh–Linear(64, 8) in float32.
func benchMLP(ctx *context.Context, t, z *graph.Node) *graph.Node {
	g := z.Graph()
	w1 := ctx.VariableWithValue("w1", tensorOf32(detValues(8*64, 1, 0.3), 8, 64)).ValueGraph(g)
	b1 := ctx.VariableWithValue("b1", tensorOf32(detValues(64, 2, 0.1), 1, 64)).ValueGraph(g)
	w2 := ctx.VariableWithValue("w2", tensorOf32(detValues(64*8, 3, 0.3), 64, 8)).ValueGraph(g)
	b2 := ctx.VariableWithValue("b2", tensorOf32(detValues(8, 4, 0.1), 1, 8)).ValueGraph(g)
	return graph.Add(graph.MatMul(graph.Tanh(graph.Add(graph.MatMul(z, w1), b1)), w2), b2)
}

func tensorOf32(v []float64, dims ...int) *tensors.Tensor {
	f := make([]float32, len(v))
	for i, x := range v {
		f[i] = float32(x)
	}
	return tensors.FromFlatDataAndDimensions(f, dims...)
}

// BenchmarkGradientMemory measures one gradient evaluation of L = Σ z(1)²
// (RK4 over [0, 1], MLP 8-64-8, batch 256, float32) by the direct method and
// the adjoint at 100, 1,000 and 10,000 steps. Direct is capped at
// GOSDE_BENCH_DIRECT_MAX steps (default 1,000). Run with:
//
//	go test ./pkg/adjoint/ -run '^$' -bench GradientMemory -benchtime 1x -timeout 30m
func BenchmarkGradientMemory(b *testing.B) {
	directMax := 1000
	if s := os.Getenv("GOSDE_BENCH_DIRECT_MAX"); s != "" {
		directMax, _ = strconv.Atoi(s)
	}
	be := backend.MustNew()
	z0 := tensorOf32(detValues(256*8, 9, 1), 256, 8)
	for _, steps := range []int{100, 1000, 10000} {
		for _, method := range []string{"adjoint", "direct"} {
			if method == "direct" && steps > directMax {
				continue
			}
			b.Run(fmt.Sprintf("%s/steps=%d", method, steps), func(b *testing.B) {
				ctx := context.New()
				var run, warm func() error
				if method == "adjoint" {
					a, err := adjoint.NewODE(be, ctx, benchMLP, adjoint.Options{Solver: diffeq.Options{Method: diffeq.RK4, Dt: 1 / float64(steps), Chunk: 50}})
					if err != nil {
						b.Fatal(err)
					}
					run = func() error { return adjointGrad(a, z0, 1) }
					// Warm-up on one 50-step chunk compiles the same executables.
					warm = func() error { return adjointGrad(a, z0, 50/float64(steps)) }
				} else {
					e := context.MustNewExec(be, ctx, func(ctx *context.Context, z0, ts *graph.Node) []*graph.Node {
						zs, err := diffeq.Integrate(ctx.Checked(false), diffeq.RK4, benchMLP, z0, ts, steps)
						if err != nil {
							panic(err)
						}
						loss := graph.ReduceAllSum(graph.Mul(zs[1], zs[1]))
						var wrt []*graph.Node
						for v := range ctx.IterVariables() {
							wrt = append(wrt, v.ValueGraph(z0.Graph()))
						}
						return graph.Gradient(loss, wrt...)
					})
					ts := tensors.FromValue([]float32{0, 1})
					run = func() error {
						_, err := e.Exec(z0, ts)
						return err
					}
					warm = run
				}
				// Warm-up: compiles the executables (not measured).
				start := time.Now()
				if err := warm(); err != nil {
					b.Fatal(err)
				}
				first := time.Since(start).Seconds()
				b.ResetTimer()
				// Short runs are repeated (at least 1,000 steps in all) and the
				// largest peak kept, so that the 25 ms memory sampler sees as
				// many moments as in a long run; the time is the fastest run.
				reps := max(1, (1000+steps-1)/steps)
				for i := 0; i < b.N; i++ {
					var peak adjoint.MemoryUsage
					peak.Seconds = math.Inf(1)
					for r := 0; r < reps; r++ {
						u, err := adjoint.MeasureMemory(run)
						if err != nil {
							b.Fatal(err)
						}
						peak.Seconds = min(peak.Seconds, u.Seconds)
						peak.PeakLiveMB = max(peak.PeakLiveMB, u.PeakLiveMB)
						peak.PeakRSSMB = max(peak.PeakRSSMB, u.PeakRSSMB)
					}
					b.ReportMetric(peak.PeakRSSMB, "peakRSS-MB")
					b.ReportMetric(peak.PeakLiveMB, "peakLive-MB")
					b.ReportMetric(peak.Seconds, "s/grad")
					b.ReportMetric(first, "s/warmup")
				}
			})
		}
	}
}

// adjointGrad runs one adjoint gradient of L = Σ z(T)² over [0, T].
func adjointGrad(a *adjoint.ODE, z0 *tensors.Tensor, T float64) error {
	tr, err := a.Forward(z0, []float64{0, T})
	if err != nil {
		return err
	}
	cot, _ := diffeq.Float64s(tr.Ys[1])
	for i := range cot {
		cot[i] *= 2
	}
	_, err = a.Backward(tr, []*tensors.Tensor{nil, diffeq.FromFloat64s(z0.DType(), cot, 256, 8)})
	return err
}

package latentsde

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gosde/gosde/pkg/adjoint"
	"github.com/gosde/gosde/pkg/diffeq"
)

// BenchmarkTorchsdeExample times one training step of the setting of
// torchsde's examples/latent_sde.py (batch 512, Euler dt 1e-2 over 200
// steps, Laplace likelihood, Adam): direct (backprop through the Euler–
// Maruyama solve, as BenchmarkStep runs it) and adjoint (stochastic
// adjoint, Euler–Maruyama). LATSDE_SPLITS, e.g. "0x1,0x2,20x1", adds direct
// variants with those TrainConfig.Chunk x Shards (chunk 0: the whole solve
// unrolled in one graph); LATSDE_HEUN=1 adds the adjoint with Heun.
//
//	go test ./pkg/latentsde/ -run '^$' -bench TorchsdeExample -benchtime 3x
func BenchmarkTorchsdeExample(b *testing.B) {
	type variant struct {
		name   string
		method adjoint.Method
		split  *TrainConfig
		adj    diffeq.Method
	}
	vs := []variant{{"direct", adjoint.Direct, nil, ""}, {"adjoint", adjoint.Adjoint, nil, diffeq.EulerMaruyama}}
	if os.Getenv("LATSDE_HEUN") == "1" {
		vs = append(vs, variant{"adjoint-heun", adjoint.Adjoint, nil, diffeq.Heun})
	}
	if s := os.Getenv("LATSDE_SPLITS"); s != "" {
		for _, f := range strings.Split(s, ",") {
			var c, sh int
			if _, err := fmt.Sscanf(f, "%dx%d", &c, &sh); err != nil {
				b.Fatalf("LATSDE_SPLITS %q: %v", f, err)
			}
			vs = append(vs, variant{fmt.Sprintf("direct-chunk%d-shards%d", c, sh), adjoint.Direct, &TrainConfig{Chunk: c, Shards: sh}, ""})
		}
	}
	for _, v := range vs {
		b.Run(v.name, func(b *testing.B) {
			start := time.Now()
			split := v.split
			if split == nil {
				c, s := BenchmarkSplit(testBackend())
				split = &TrainConfig{Chunk: c, Shards: s}
			}
			step, err := benchmarkStep(testBackend(), v.method, 512, *split, v.adj)
			if err != nil {
				b.Fatal(err)
			}
			if err := step(); err != nil { // compile
				b.Fatal(err)
			}
			first := time.Since(start).Seconds()
			cpu0 := cpuSeconds()
			b.ResetTimer()
			for range b.N {
				if err := step(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "it/s")
			b.ReportMetric(first, "first-step-s")
			b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/op")
		})
	}
}

// cpuSeconds returns the process's user + system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

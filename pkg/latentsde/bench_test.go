package latentsde

import (
	"testing"

	"github.com/gosde/gosde/pkg/adjoint"
)

// BenchmarkTorchsdeExample times one training step of the setting of
// torchsde's examples/latent_sde.py (batch 512, Euler dt 1e-2 over 200
// steps, Laplace likelihood, Adam): direct (backprop through the unrolled
// Euler–Maruyama solve) and adjoint (stochastic adjoint, Heun).
//
//	go test ./pkg/latentsde/ -run '^$' -bench TorchsdeExample -benchtime 3x
func BenchmarkTorchsdeExample(b *testing.B) {
	for _, method := range []adjoint.Method{adjoint.Direct, adjoint.Adjoint} {
		b.Run(string(method), func(b *testing.B) {
			step, err := BenchmarkStep(testBackend(), method, 512)
			if err != nil {
				b.Fatal(err)
			}
			if err := step(); err != nil { // compile
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if err := step(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "it/s")
		})
	}
}

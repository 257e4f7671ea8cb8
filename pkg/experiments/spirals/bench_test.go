package spirals

import (
	"testing"

	"github.com/gosde/gosde/pkg/adjoint"
)

// BenchmarkTorchdiffeqSetting times training steps of the torchdiffeq
// examples/latent_ode.py setting (BenchConfig), direct and adjoint. Run:
//
//	go test ./pkg/experiments/spirals -run '^$' -bench TorchdiffeqSetting -benchtime 1x
func BenchmarkTorchdiffeqSetting(b *testing.B) {
	for _, method := range []adjoint.Method{adjoint.Direct, adjoint.Adjoint} {
		b.Run(string(method), func(b *testing.B) {
			itps, nfe, err := BenchStep(testBackendB(b), BenchConfig(method), max(b.N, 2))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(itps, "it/s")
			b.ReportMetric(float64(nfe.Forward), "nfe-fwd")
			b.ReportMetric(float64(nfe.Backward), "nfe-bwd")
		})
	}
}

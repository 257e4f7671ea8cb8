package bench

import (
	"testing"

	"github.com/gosde/gosde/pkg/backend"
)

// Go benchmarks of the rows. Each b.N iteration is one full measurement
// (warm-up and Options.Repeats timed runs); the row's median is reported as
// a custom metric. Run, for example:
//
//	go test ./pkg/bench -run '^$' -bench 'Row/sde' -benchtime 1x
//	GOMLX_BACKEND=xla:$PWD/.tools/xla/cpu/pjrt_c_api_cpu_plugin.so go test ./pkg/bench -run '^$' -bench Row -benchtime 1x
func BenchmarkRow(b *testing.B) {
	be := backend.Shared()
	for _, row := range Rows() {
		b.Run(row.Name, func(b *testing.B) {
			if row.Run == nil {
				b.Skip("not available: " + row.Unavailable)
			}
			var r *Result
			for range b.N {
				var err error
				if r, err = RunRow(row, be, Options{Repeats: 3}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(r.Value.Median, r.Unit)
			b.ReportMetric(float64(r.PeakHeapBytes)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(r.Executables), "executables")
			b.ReportMetric(r.FirstStepSeconds, "first-run-s")
			b.Log(r)
		})
	}
}

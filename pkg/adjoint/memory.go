package adjoint

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MemoryUsage is what MeasureMemory reports about one call.
type MemoryUsage struct {
	Seconds float64 // wall time
	// PeakLiveMB is the peak live Go heap above the starting one, in MiB:
	// a sampler forces a garbage collection every 25 ms and reads
	// /gc/heap/live:bytes, so it is memory actually retained, not garbage
	// awaiting collection. The pure-Go backend's buffers are Go memory.
	PeakLiveMB float64
	// PeakRSSMB is the process's peak resident set during the call (VmHWM
	// after a reset through /proc/self/clear_refs; Linux only, else 0).
	PeakRSSMB float64
}

// MeasureMemory runs fn and reports its time and peak memory, for comparing
// the memory of gradient methods (see the benchmark in docs/bench/adjoint.md).
// The forced collections cost a little time.
func MeasureMemory(fn func() error) (MemoryUsage, error) {
	const metric = "/gc/heap/live:bytes"
	runtime.GC()
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	sample := []metrics.Sample{{Name: metric}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := []metrics.Sample{{Name: metric}}
		for {
			select {
			case <-stop:
				return
			case <-time.After(25 * time.Millisecond):
			}
			runtime.GC()
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
		}
	}()
	start := time.Now()
	err := fn()
	var u MemoryUsage
	u.Seconds = time.Since(start).Seconds()
	close(stop)
	wg.Wait()
	if peak > base {
		u.PeakLiveMB = float64(peak-base) / (1 << 20)
	}
	if b, e := os.ReadFile("/proc/self/status"); e == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
				kb, _ := strconv.Atoi(f[1])
				u.PeakRSSMB = float64(kb) / 1024
			}
		}
	}
	return u, err
}

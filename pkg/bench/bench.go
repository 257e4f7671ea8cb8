package bench

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gomlx/gomlx/backends"

	"github.com/gosde/gosde/internal/compilestats"
)

// Stats summarises repeated measurements.
type Stats struct {
	Values           []float64
	Median, Min, Max float64
}

// NewStats returns the statistics of v (which must not be empty).
func NewStats(v []float64) Stats {
	s := slices.Clone(v)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Stats{Values: slices.Clone(v), Median: med, Min: s[0], Max: s[len(s)-1]}
}

// Options control how a row is measured. Zero values take the defaults.
type Options struct {
	// Repeats is the number of timed repetitions (default 3).
	Repeats int
	// Warmup is the number of untimed runs first (default 3: compilation
	// happens there, and adaptive solvers compile one graph per padded
	// step count, so the first few runs may meet new ones).
	Warmup int
	// Shards splits the batch of the SDE rows over that many goroutines
	// (0: the number of CPUs on the embedded pure-Go backend, 1 elsewhere).
	Shards int
	// Chunk is the number of solver steps per executable call in the SDE
	// rows (0: diffeq's default).
	Chunk int
	// ReusePlan is adjoint.TrainerConfig.ReusePlan for the direct rows with
	// Dopri5 (MNIST, latent ODE); 0: a host solve plans every step, as
	// torchdiffeq does.
	ReusePlan int
	// Noise is where the SDE rows draw their Brownian increments: "host"
	// (diffeq.Brownian), "graph" (diffeq.Options.NoiseInGraph) or "" /
	// "auto": in the graph where diffeq.PreferNoiseInGraph says so (an
	// accelerator), on the host elsewhere.
	Noise string

	// clock, set by RunRow, receives the time of the first finished run.
	clock *rowClock
}

// rowClock times a row from its start to its first finished run.
type rowClock struct {
	start time.Time
	first time.Duration
}

// done records the first finished run.
func (c *rowClock) done() {
	if c != nil && c.first == 0 {
		c.first = time.Since(c.start)
	}
}

func (o Options) withDefaults() Options {
	if o.Repeats <= 0 {
		o.Repeats = 3
	}
	if o.Warmup < 0 {
		o.Warmup = 0
	} else if o.Warmup == 0 {
		o.Warmup = 3
	}
	return o
}

// shardsFor returns the number of shards for backend b: Options.Shards if
// set, else the number of CPUs for the embedded backend (one executable call
// keeps one core busy there) and 1 for others (XLA uses all cores itself).
func (o Options) shardsFor(b backends.Backend) int {
	if o.Shards > 0 {
		return o.Shards
	}
	if IsEmbedded(b) {
		return runtime.GOMAXPROCS(0)
	}
	return 1
}

// IsEmbedded reports whether b is GoMLX's pure-Go backend (simplego), wrapped
// or not.
func IsEmbedded(b backends.Backend) bool { return strings.Contains(b.Name(), "(go)") }

// Result is one measured row.
type Result struct {
	Row     string `json:"row"`
	Work    string `json:"work"`
	Setting string `json:"setting"`
	Backend string `json:"backend"`
	// Unit of Value; for "s" lower is better, otherwise higher.
	Unit  string `json:"unit"`
	Value Stats  `json:"value"`
	// NFE is the number of vector-field evaluations per timed run (0 when
	// not meaningful).
	NFE int `json:"nfe,omitempty"`
	// PeakHeapBytes is the largest Go heap (live objects) sampled during the
	// timed runs; PeakRSSBytes the process's resident-set high-water mark
	// over them (Linux VmHWM, reset before the runs; 0 if unavailable).
	PeakHeapBytes uint64 `json:"peak_heap_bytes"`
	PeakRSSBytes  uint64 `json:"peak_rss_bytes"`
	// CPUSeconds is the process CPU time (user + system) of each timed run:
	// on a machine shared with other jobs it varies less than wall time.
	CPUSeconds Stats `json:"cpu_seconds"`
	// Anchor is the Python library's figure and Target gosde's goal, in Unit.
	Anchor     float64 `json:"anchor"`
	AnchorName string  `json:"anchor_name"`
	Target     float64 `json:"target"`
	// Note holds details (shards, chunk, notes on the measurement).
	Note string `json:"note,omitempty"`
	// Executables and CompileSeconds count the graphs the backend compiled
	// for the row (set up, warm-up and timed runs) and the seconds spent
	// compiling them; FirstStepSeconds is the time from the row's start
	// (model set-up included) to its first finished run. RunRow fills them;
	// zero when the row ran without it.
	Executables      int     `json:"executables"`
	CompileSeconds   float64 `json:"compile_seconds"`
	FirstStepSeconds float64 `json:"first_step_seconds"`
}

// Met reports whether the median meets the target.
func (r *Result) Met() bool {
	if r.Unit == "s" {
		return r.Value.Median <= r.Target
	}
	return r.Value.Median >= r.Target
}

// String formats the result as one line: work, setting, throughput (median
// [min, max]), NFE, peak memory, anchor and target.
func (r *Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-8s %s | %s | %s %s (median; min %s, max %s; %d runs)",
		r.Row, r.Work, r.Setting, fmtVal(r.Value.Median), r.Unit, fmtVal(r.Value.Min), fmtVal(r.Value.Max), len(r.Value.Values))
	if r.NFE > 0 {
		fmt.Fprintf(&b, " | NFE %d", r.NFE)
	}
	fmt.Fprintf(&b, " | peak heap %s, peak RSS %s", fmtBytes(r.PeakHeapBytes), fmtBytes(r.PeakRSSBytes))
	if len(r.CPUSeconds.Values) > 0 {
		fmt.Fprintf(&b, " | CPU %.3g s/run", r.CPUSeconds.Median)
	}
	if r.Anchor != 0 || r.Target != 0 { // PeerRows have neither
		verdict := "below target"
		if r.Met() {
			verdict = "meets target"
		}
		fmt.Fprintf(&b, " | %s %s, target %s: %s", r.AnchorName, fmtVal(r.Anchor), fmtVal(r.Target), verdict)
	}
	if r.Note != "" {
		fmt.Fprintf(&b, " | %s", r.Note)
	}
	if r.FirstStepSeconds > 0 {
		fmt.Fprintf(&b, " | compiled %d executable(s) in %.3g s, first run finished after %.3g s", r.Executables, r.CompileSeconds, r.FirstStepSeconds)
	}
	fmt.Fprintf(&b, " | backend %s", r.Backend)
	return b.String()
}

func fmtVal(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e4:
		return fmt.Sprintf("%.3g M", v/1e6)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

func fmtBytes(n uint64) string {
	if n == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
}

// measurement is what measure returns.
type measurement struct {
	vals, cpu         []float64
	peakHeap, peakRSS uint64
}

// measure runs run Warmup times untimed, then Repeats times timed, and
// returns work/seconds (or seconds, if work is 0) of each timed run, with
// the peak memory over the timed runs.
func measure(o Options, work float64, run func() error) (m measurement, err error) {
	o = o.withDefaults()
	for i := range o.Warmup {
		if err := run(); err != nil {
			return m, fmt.Errorf("warm-up run %d: %w", i+1, err)
		}
		o.clock.done()
	}
	runtime.GC()
	resetRSSPeak()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.peakHeap = sampleHeap(stop)
	}()
	defer func() {
		close(stop)
		wg.Wait()
		m.peakRSS = rssPeak()
	}()
	for i := range o.Repeats {
		start, cpu0 := time.Now(), cpuSeconds()
		if err := run(); err != nil {
			return m, fmt.Errorf("timed run %d: %w", i+1, err)
		}
		secs := time.Since(start).Seconds()
		o.clock.done()
		m.cpu = append(m.cpu, cpuSeconds()-cpu0)
		if work > 0 {
			m.vals = append(m.vals, work/secs)
		} else {
			m.vals = append(m.vals, secs)
		}
	}
	return m, nil
}

// RunRow runs row on backend b wrapped by a compilation counter
// (internal/compilestats) and fills the result's Executables,
// CompileSeconds and FirstStepSeconds.
func RunRow(row Row, b backends.Backend, o Options) (*Result, error) {
	if row.Run == nil {
		return nil, fmt.Errorf("bench.RunRow: row %s is not available: %s", row.Name, row.Unavailable)
	}
	cb := compilestats.Wrap(b)
	before := cb.Stats()
	o.clock = &rowClock{start: time.Now()}
	r, err := row.Run(cb, o)
	if err != nil {
		return nil, err
	}
	s := cb.Stats().Sub(before)
	r.Executables, r.CompileSeconds = s.Executables, s.Seconds
	r.FirstStepSeconds = o.clock.first.Seconds()
	return r, nil
}

// cpuSeconds returns the process's user + system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

// fill copies a measurement into r.
func (m measurement) fill(r *Result) {
	r.Value, r.CPUSeconds = NewStats(m.vals), NewStats(m.cpu)
	r.PeakHeapBytes, r.PeakRSSBytes = m.peakHeap, m.peakRSS
}

// sampleHeap samples the bytes of live heap objects every 2 ms until stop
// is closed and returns the largest value seen.
func sampleHeap(stop <-chan struct{}) uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak uint64
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		metrics.Read(s)
		if s[0].Value.Kind() == metrics.KindUint64 {
			peak = max(peak, s[0].Value.Uint64())
		}
		select {
		case <-stop:
			return peak
		case <-tick.C:
		}
	}
}

// resetRSSPeak resets the kernel's resident-set high-water mark of the
// process (Linux: "5" to /proc/self/clear_refs); errors are ignored.
func resetRSSPeak() {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// rssPeak returns VmHWM from /proc/self/status in bytes (0 if unavailable).
func rssPeak() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// Package compilestats counts the executables a GoMLX backend compiles and
// the time spent compiling them.
//
// GoMLX's context.Exec compiles lazily, once per distinct set of input
// shapes, on the first call that meets them, so counting the places that
// create an Exec says little. Wrap instead wraps the backend: every graph
// compiled through the wrapper, by whatever package, is counted. The
// wrapper delegates everything else to the backend it wraps (name,
// buffers, executables), so code that receives it behaves as with the
// backend itself.
package compilestats

import (
	"sync"
	"time"

	"github.com/gomlx/gomlx/backends"
)

// Stats is what a Backend has compiled so far.
type Stats struct {
	// Executables is the number of graphs compiled.
	Executables int
	// Seconds is the wall time spent in the backend's Compile (graph
	// building in Go is not included).
	Seconds float64
}

// Sub returns s − o, the compilations between two snapshots.
func (s Stats) Sub(o Stats) Stats {
	return Stats{Executables: s.Executables - o.Executables, Seconds: s.Seconds - o.Seconds}
}

// Backend is a backends.Backend that counts compilations. Create it with
// Wrap; it is safe for concurrent use.
type Backend struct {
	backends.Backend
	mu    sync.Mutex
	stats Stats
}

// Wrap returns b wrapped so that its compilations are counted. Wrapping a
// *Backend returns it unchanged (its counts go on); Wrap(nil) returns nil.
func Wrap(b backends.Backend) *Backend {
	if b == nil {
		return nil
	}
	if w, ok := b.(*Backend); ok {
		return w
	}
	return &Backend{Backend: b}
}

// Stats returns the compilations counted so far.
func (w *Backend) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

// Unwrap returns the wrapped backend.
func (w *Backend) Unwrap() backends.Backend { return w.Backend }

// Builder implements backends.Backend: the inner builder, with Compile
// counted.
func (w *Backend) Builder(name string) backends.Builder {
	return &builder{Builder: w.Backend.Builder(name), owner: w}
}

// builder delegates to Builder and counts Compile.
type builder struct {
	backends.Builder
	owner *Backend
}

// Compile implements backends.Builder.
func (b *builder) Compile(outputs []backends.Op, shardings []*backends.ShardingSpec) (backends.Executable, error) {
	start := time.Now()
	e, err := b.Builder.Compile(outputs, shardings)
	secs := time.Since(start).Seconds()
	if err == nil {
		b.owner.mu.Lock()
		b.owner.stats.Executables++
		b.owner.stats.Seconds += secs
		b.owner.mu.Unlock()
	}
	return e, err
}

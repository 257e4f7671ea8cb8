package latentsde

import (
	"os"
	"sync"

	"github.com/gomlx/gomlx/backends"

	"github.com/gosde/gosde/pkg/backend"
)

var (
	seqOnce    sync.Once
	seqBackend backends.Backend
)

// testBackend returns the backend named by GOMLX_BACKEND or, when unset or
// plain "go", the
// embedded backend with sequential op execution: GoMLX v0.26's parallel
// executor can deadlock on the training graph (its worker pool is exhausted
// by nodes that wait for sub-tasks; see docs/latentsde.md).
func testBackend() backends.Backend {
	if v := os.Getenv(backend.EnvVar); v != "" && v != "go" {
		return backend.Shared()
	}
	seqOnce.Do(func() {
		var err error
		if seqBackend, err = backend.NewWithConfig("go:ops_sequential"); err != nil {
			panic(err)
		}
	})
	return seqBackend
}

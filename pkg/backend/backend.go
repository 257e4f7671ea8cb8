// Package backend chooses the GoMLX backend that gosde programs run on.
//
// Library code in gosde never picks a backend: it takes a backends.Backend from
// its caller. Programs, tests and notebooks get one from New, which honours the
// GOMLX_BACKEND environment variable when it is set and otherwise uses the
// embedded pure-Go backend ("go", GoMLX's simplego), which needs no binary.
//
// Examples of GOMLX_BACKEND values:
//
//	go                        the embedded pure-Go backend (the default)
//	go:ops_parallel           pure-Go, independent ops run in parallel (gosde's
//	                          default is ops_sequential: see NewWithConfig)
//	xla:cpu                   XLA through a PJRT CPU plugin found on the plugin path
//	xla:cuda                  XLA through the PJRT CUDA plugin
//	xla:/abs/path/plugin.so   XLA through the PJRT plugin at that path
package backend

import (
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gosde/gosde/internal/catch"
	"github.com/gosde/gosde/internal/kernels"
)

// EnvVar is the environment variable that selects the backend.
const EnvVar = backends.ConfigEnvVar

// Embedded is the name of the embedded pure-Go backend.
const Embedded = simplego.BackendName

func init() {
	// Never let GoMLX's XLA backend reach the network for a plugin.
	if _, ok := os.LookupEnv("GOMLX_NO_AUTO_INSTALL"); !ok {
		_ = os.Setenv("GOMLX_NO_AUTO_INSTALL", "1")
	}
}

// Config returns the backend configuration in force: GOMLX_BACKEND when set
// and not empty, otherwise the embedded backend's name.
func Config() string {
	if c := strings.TrimSpace(os.Getenv(EnvVar)); c != "" {
		return c
	}
	return Embedded
}

// New returns a new backend for Config(). The embedded backend is wrapped so
// that the operations gosde's models need are all available (see Wrap), and
// gosde's fast float32 kernels are installed into it (see FastKernels).
func New() (backends.Backend, error) {
	return NewWithConfig(Config())
}

// NewWithConfig returns a backend for a configuration string of the form
// "name[:options]", as in GOMLX_BACKEND. For the embedded backend it first
// installs gosde's fast float32 kernels into simplego (once per process;
// see FastKernelsEnv), so call it before running graphs on other simplego
// backends of the process.
func NewWithConfig(config string) (backends.Backend, error) {
	name, opts, _ := strings.Cut(config, ":")
	if name == Embedded {
		kernels.Install()
		b, err := simplego.New(embeddedOptions(opts))
		if err != nil {
			return nil, fmt.Errorf("backend: creating embedded backend %q: %w", config, err)
		}
		return Wrap(b), nil
	}
	b, err := newOther(config)
	if err != nil {
		return nil, fmt.Errorf("backend: creating backend from %s=%q: %w (set %s=%s for the embedded pure-Go backend)",
			EnvVar, config, err, EnvVar, Embedded)
	}
	return b, nil
}

// embeddedOptions returns the pure-Go backend's options with gosde's default
// op scheduling: sequential, unless the options name one (ops_parallel or
// ops_sequential). GoMLX v0.26's parallel executor deadlocked on gosde's
// training graphs (its worker pool filled with ops waiting on their own
// DotGeneral sub-tasks), and for the small ops of ODE/SDE vector fields the
// sequential executor was also faster; large matmuls still split their work
// across cores inside the op.
func embeddedOptions(opts string) string {
	if strings.Contains(opts, "ops_") {
		return opts
	}
	if opts == "" {
		return "ops_sequential"
	}
	return "ops_sequential," + opts
}

// MustNew is New that panics on error; for examples, tests and notebooks.
func MustNew() backends.Backend {
	b, err := New()
	if err != nil {
		panic(err)
	}
	return b
}

var (
	sharedOnce sync.Once
	shared     backends.Backend
	sharedErr  error
)

// Shared returns one process-wide backend created by New on first use.
// Tests and notebooks use it to avoid creating many backends.
func Shared() backends.Backend {
	sharedOnce.Do(func() { shared, sharedErr = New() })
	if sharedErr != nil {
		panic(sharedErr)
	}
	return shared
}

// newOther is backends.NewWithConfig with its panics (an unknown backend
// name, a plugin that fails to load) returned as errors.
func newOther(config string) (b backends.Backend, err error) {
	if perr := catch.Panic(func() { b, err = backends.NewWithConfig(config) }); perr != nil {
		return nil, perr
	}
	return b, err
}

// OnAccelerator reports whether b computes on an accelerator (XLA on a GPU
// or another non-CPU device): false for the pure-Go backend and XLA CPU.
// Choices that pay off only where launches and host transfers are costly
// and compilation is slow (noise drawn in the graph, Checkpointed instead of
// unrolled graphs) follow it.
func OnAccelerator(b backends.Backend) bool {
	if b == nil || b.NumDevices() < 1 || strings.Contains(b.Name(), "(go)") {
		return false
	}
	dev := strings.ToLower(b.DeviceDescription(0))
	return !strings.HasPrefix(dev, "cpu") && !strings.HasPrefix(dev, "device#")
}

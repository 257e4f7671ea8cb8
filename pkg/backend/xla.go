//go:build ((linux && amd64) || darwin) && !noxla

package backend

// The XLA backend (PJRT plugins) is linked in unless built with -tags noxla.
import _ "github.com/gomlx/gomlx/backends/xla"

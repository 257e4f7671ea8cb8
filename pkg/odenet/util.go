package odenet

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// shapesImages is the shape of a batch of n images.
func shapesImages(n int) shapes.Shape { return shapes.Make(dtypes.Float32, n, 28, 28, 1) }

// tryCatch runs fn and returns a panic it raised as an error.
func tryCatch(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = e
			} else {
				err = fmt.Errorf("%v", r)
			}
		}
	}()
	fn()
	return nil
}

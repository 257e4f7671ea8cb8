package odenet

import (
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// shapesImages is the shape of a batch of n images.
func shapesImages(n int) shapes.Shape { return shapes.Make(dtypes.Float32, n, 28, 28, 1) }

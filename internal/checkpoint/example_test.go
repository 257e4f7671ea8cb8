package checkpoint_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/internal/checkpoint"
)

// A checkpoint records which model wrote it: loading it for another model is
// refused, and the file stays as it was.
func Example() {
	dir, _ := os.MkdirTemp("", "ckpt")
	defer os.RemoveAll(dir)
	ctx := context.New()
	ctx.In("head").VariableWithValue("w", []float32{0.5, -1})

	resnet, _ := checkpoint.NewIdentity("resnet", map[string]string{"Model": "resnet"})
	hist := checkpoint.NewHistory("loss")
	_ = hist.Append(1, 2.3)
	ck, err := checkpoint.Snapshot(ctx, resnet, 1, hist)
	if err != nil {
		panic(err)
	}
	path := filepath.Join(dir, "run.ckpt")
	if err := checkpoint.Write(path, ck); err != nil {
		panic(err)
	}

	odenet, _ := checkpoint.NewIdentity("odenet", map[string]string{"Model": "odenet"})
	_, err = checkpoint.Load(path, odenet)
	fmt.Println("odenet refused:", errors.Is(err, checkpoint.ErrMismatch))
	back, err := checkpoint.Load(path, resnet)
	fmt.Println("resnet:", back.Kind, back.Step, back.History.Column("loss"), err)
	// Output:
	// odenet refused: true
	// resnet: resnet 1 [2.3] <nil>
}

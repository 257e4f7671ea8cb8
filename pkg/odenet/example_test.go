package odenet_test

import (
	"fmt"

	"github.com/gosde/gosde/pkg/backend"
	"github.com/gosde/gosde/pkg/odenet"
)

// The ODE-Net has the reference implementation's 208,266 parameters.
func ExampleParamCount() {
	cfg := odenet.DefaultConfig()
	n, err := odenet.ParamCount(backend.MustNew(), odenet.NewContext(0), cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg, n)
	// Output: odenet (rk4, 2 steps, 8 evaluations) 208266
}

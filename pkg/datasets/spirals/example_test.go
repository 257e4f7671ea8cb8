package spirals_test

import (
	"fmt"

	"github.com/gosde/gosde/pkg/datasets/spirals"
)

func Example() {
	d, err := spirals.Generate(spirals.Config{N: 10, Seed: 1})
	if err != nil {
		panic(err)
	}
	train, test, _ := d.Split(0.2)
	fmt.Println(d.Len(), len(d.Ts), train.Len(), test.Len())
	// expm(W t) in closed form: a quarter turn of the pure rotation W = [[0, 1], [−1, 0]].
	e := spirals.Expm2([4]float64{0, 1, -1, 0}, 3.141592653589793/2)
	fmt.Printf("%.3f %.3f %.3f %.3f\n", e[0], e[1], e[2], e[3])
	// Output:
	// 10 200 8 2
	// 0.000 1.000 -1.000 0.000
}

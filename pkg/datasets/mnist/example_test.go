package mnist_test

import (
	"fmt"

	"github.com/gosde/gosde/pkg/datasets/mnist"
)

// Load the real MNIST files shipped by the GoMNIST module (no download).
func Example() {
	train, test, err := mnist.Load("", true)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(train.N, test.N, train.Rows, train.Cols, train.Labels[:5])
	// Output: 60000 10000 28 28 [5 0 4 1 9]
}

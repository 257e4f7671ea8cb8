package progress_test

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/gosde/gosde/pkg/progress"
)

// A bar writing to a file or a pipe prints a line at the first step, at
// every tenth of the run and at the end.
func ExampleNewWriter() {
	var log bytes.Buffer
	bar := progress.NewWriter("training", 20, &log)
	for step := 1; step <= 20; step++ {
		loss := 1 / float64(step)
		bar.Update(step, loss)
	}
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	last := lines[len(lines)-1]
	fmt.Println(len(lines), "lines; the last starts with:", last[:strings.Index(last, " · ")])
	// Output: 11 lines; the last starts with: training [########################] 100% 20/20
}

// Package bench holds gosde's speed benchmarks as library code: one function
// per row of the comparison with the Python libraries (torchsde,
// torchdiffeq), each building its workload at exactly the anchor's settings
// on a given backend, warming it up, timing several repeats and reporting
// the median, minimum and maximum throughput with the peak memory. RunRow
// also counts the executables the backend compiled for the row, the
// seconds spent compiling them and the time to the first finished run.
//
// The same rows run from the command line (`gosde bench`) and as Go
// benchmarks (`go test ./pkg/bench -bench .`). Rows whose building blocks
// are not (yet) in gosde are listed with the reason instead of a number.
//
// The anchors (PyTorch 1.13 on the CPU, 2 threads, a 2-core machine,
// medians) and gosde's targets are in Rows; docs/bench/perf.md has the
// measured table.
package bench

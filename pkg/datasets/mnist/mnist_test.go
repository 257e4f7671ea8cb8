package mnist

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeIDX writes an IDX fixture, gzip-compressed if the name ends in .gz.
func writeIDX(t *testing.T, path string, dims []int, data []uint8) {
	t.Helper()
	var raw bytes.Buffer
	if err := EncodeIDX(&raw, dims, data); err != nil {
		t.Fatal(err)
	}
	writeBytes(t, path, raw.Bytes())
}

func writeBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	if strings.HasSuffix(path, ".gz") {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(b)
		zw.Close()
		b = z.Bytes()
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// fixture writes a 3-image 2×3 set with labels 7, 0, 9 to dir.
func fixture(t *testing.T, dir, suffix string) {
	img := make([]uint8, 3*2*3)
	for i := range img {
		img[i] = uint8(10 * i)
	}
	writeIDX(t, filepath.Join(dir, "train-images-idx3-ubyte"+suffix), []int{3, 2, 3}, img)
	writeIDX(t, filepath.Join(dir, "train-labels-idx1-ubyte"+suffix), []int{3}, []uint8{7, 0, 9})
}

func TestLoadSetGzipAndRaw(t *testing.T) {
	for _, suffix := range []string{".gz", ""} {
		dir := t.TempDir()
		fixture(t, dir, suffix)
		s, err := LoadSet(dir, TrainImagesFile, TrainLabelsFile, false)
		if err != nil {
			t.Fatalf("suffix %q: %v", suffix, err)
		}
		if s.N != 3 || s.Rows != 2 || s.Cols != 3 {
			t.Fatalf("suffix %q: got N=%d rows=%d cols=%d, want 3, 2, 3", suffix, s.N, s.Rows, s.Cols)
		}
		if got := s.Image(1); got[0] != 60 || got[5] != 110 {
			t.Errorf("suffix %q: image 1 = %v, want 60…110", suffix, got)
		}
		if s.Labels[0] != 7 || s.Labels[2] != 9 {
			t.Errorf("suffix %q: labels %v, want [7 0 9]", suffix, s.Labels)
		}
	}
}

func TestReadIDXErrors(t *testing.T) {
	good := new(bytes.Buffer)
	EncodeIDX(good, []int{2, 2, 2}, []uint8{1, 2, 3, 4, 5, 6, 7, 8})
	g := good.Bytes()
	cases := []struct {
		name, want string
		data       []byte
	}{
		{"truncated.gz", "truncated data", g[:len(g)-3]},
		{"truncated_header", "truncated header", g[:6]},
		{"badmagic", "wrong magic number", append([]byte{1, 2, 8, 3}, g[4:]...)},
		{"badtype", "unsupported IDX element type", append([]byte{0, 0, 0x0d, 3}, g[4:]...)},
		{"trailing.gz", "trailing data", append(append([]byte{}, g...), 9, 9)},
		{"empty", "no header", nil},
	}
	for _, c := range cases {
		path := filepath.Join(t.TempDir(), c.name)
		writeBytes(t, path, c.data)
		_, err := ReadIDX(path)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: got error %v, want one naming %s and saying %q", c.name, err, path, c.want)
		}
	}
	// A gzip file cut in the middle of the compressed stream.
	path := filepath.Join(t.TempDir(), "cut.gz")
	writeBytes(t, path+".tmp.gz", g)
	z, _ := os.ReadFile(path + ".tmp.gz")
	os.WriteFile(path, z[:len(z)-10], 0o644)
	if _, err := ReadIDX(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("cut gzip: got error %v, want one naming %s", err, path)
	}
}

func TestLoadSetMismatch(t *testing.T) {
	dir := t.TempDir()
	fixture(t, dir, ".gz")
	// Wrong count: 2 labels for 3 images.
	writeIDX(t, filepath.Join(dir, TrainLabelsFile), []int{2}, []uint8{1, 2})
	if _, err := LoadSet(dir, TrainImagesFile, TrainLabelsFile, false); err == nil || !strings.Contains(err.Error(), "3 images but") {
		t.Errorf("wrong count: got %v", err)
	}
	// Label out of range.
	writeIDX(t, filepath.Join(dir, TrainLabelsFile), []int{3}, []uint8{1, 2, 12})
	if _, err := LoadSet(dir, TrainImagesFile, TrainLabelsFile, false); err == nil || !strings.Contains(err.Error(), "not a digit") {
		t.Errorf("bad label: got %v", err)
	}
	// Missing file.
	if _, err := LoadSet(dir, TestImagesFile, TestLabelsFile, false); err == nil || !strings.Contains(err.Error(), "missing file") {
		t.Errorf("missing: got %v", err)
	}
	// Digest check: the fixture is not the original file.
	if _, err := LoadSet(dir, TrainImagesFile, TrainLabelsFile, true); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Errorf("digest: got %v", err)
	}
}

// TestLoadReal reads the real MNIST files shipped by the GoMNIST module and
// checks the known counts and the first labels (5 0 4 1 9 for training, 7 2 1
// 0 4 for test).
func TestLoadReal(t *testing.T) {
	dir, err := DefaultDir()
	if err != nil {
		t.Skipf("MNIST module not available: %v", err)
	}
	train, test, err := Load(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if train.N != 60000 || test.N != 10000 || train.Rows != 28 || train.Cols != 28 {
		t.Fatalf("got train %d test %d images of %d×%d", train.N, test.N, train.Rows, train.Cols)
	}
	if got := fmt.Sprint(train.Labels[:5], test.Labels[:5]); got != "[5 0 4 1 9] [7 2 1 0 4]" {
		t.Errorf("first labels %s", got)
	}
}

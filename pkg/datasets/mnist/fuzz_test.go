package mnist

import (
	"bytes"
	"compress/gzip"
	"runtime"
	"strings"
	"testing"
)

// FuzzDecodeIDX feeds arbitrary files (raw and gzip) to the IDX reader: it
// never panics, and what it accepts has 1 to 4 dimensions whose product is
// the number of values; an accepted raw file re-encodes to itself.
func FuzzDecodeIDX(f *testing.F) {
	var raw, zipped bytes.Buffer
	_ = EncodeIDX(&raw, []int{2, 2, 2}, []uint8{1, 2, 3, 4, 5, 6, 7, 8})
	zw := gzip.NewWriter(&zipped)
	_, _ = zw.Write(raw.Bytes())
	_ = zw.Close()
	f.Add(raw.Bytes())
	f.Add(zipped.Bytes())
	f.Add([]byte{0, 0, 8, 1, 0, 0, 0, 0})
	f.Add([]byte{0, 0, 8, 2, 0x40, 0, 0, 0, 0, 0, 0, 1, 7})
	f.Fuzz(func(t *testing.T, data []byte) {
		idx, err := DecodeIDX(bytes.NewReader(data))
		if err != nil {
			return
		}
		if len(idx.Dims) < 1 || len(idx.Dims) > 4 {
			t.Fatalf("accepted rank %d", len(idx.Dims))
		}
		n := 1
		for _, d := range idx.Dims {
			n *= d
		}
		if n != len(idx.Data) {
			t.Fatalf("dimensions %v hold %d values, data has %d", idx.Dims, n, len(idx.Data))
		}
		if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
			return
		}
		var again bytes.Buffer
		if err := EncodeIDX(&again, idx.Dims, idx.Data); err != nil || !bytes.Equal(again.Bytes(), data) {
			t.Fatalf("accepted file does not re-encode to itself (%v)", err)
		}
	})
}

// TestDecodeIDXHugeHeader: a 13-byte file whose header announces 2^30
// bytes is refused as truncated after allocating about its own size, not
// the announced gigabyte.
func TestDecodeIDXHugeHeader(t *testing.T) {
	data := []byte{0, 0, 8, 2, 0x00, 0x01, 0, 0, 0x00, 0x00, 0x40, 0x00, 7} // 65536 × 16384
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := DecodeIDX(bytes.NewReader(data))
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "announces 1073741824 bytes, got 1") {
		t.Fatalf("error %v", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("allocated %d bytes for a 13-byte file", alloc)
	}
}

package mnist

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// IDX is an n-dimensional array of unsigned bytes read from an IDX file:
// Dims are its dimensions (the first is the number of items) and Data its
// values in row-major order.
type IDX struct {
	Dims []int
	Data []uint8
}

// maxIDXElements bounds the size an IDX header may announce (1 GiB), so that a
// corrupt header cannot make the reader allocate without limit.
const maxIDXElements = 1 << 30

// ReadIDX reads an IDX file of unsigned bytes (type code 0x08), gzip-compressed
// (detected from its first two bytes) or raw. Errors name the file and what is
// wrong: wrong magic number, unsupported type, truncated data, trailing data,
// or a corrupt gzip stream.
func ReadIDX(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("mnist: %w", err)
	}
	defer f.Close()
	idx, err := DecodeIDX(f)
	if err != nil {
		return nil, fmt.Errorf("mnist: reading %s: %w", path, err)
	}
	return idx, nil
}

// DecodeIDX decodes an IDX stream (gzip-compressed or raw); see ReadIDX.
func DecodeIDX(r io.Reader) (*IDX, error) {
	br := bufio.NewReader(r)
	head, err := br.Peek(2)
	if err != nil {
		return nil, fmt.Errorf("empty or truncated file (no header): %w", err)
	}
	var src io.Reader = br
	if head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("corrupt gzip header: %w", err)
		}
		defer zr.Close()
		src = zr
	}
	var magic [4]byte
	if _, err := io.ReadFull(src, magic[:]); err != nil {
		return nil, fmt.Errorf("truncated header (magic number): %w", wrapEOF(err))
	}
	if magic[0] != 0 || magic[1] != 0 {
		return nil, fmt.Errorf("wrong magic number % x: not an IDX file (want 00 00 08 <rank>)", magic)
	}
	if magic[2] != 0x08 {
		return nil, fmt.Errorf("unsupported IDX element type 0x%02x (only unsigned bytes, 0x08)", magic[2])
	}
	rank := int(magic[3])
	if rank < 1 || rank > 4 {
		return nil, fmt.Errorf("unsupported IDX rank %d (want 1 to 4)", rank)
	}
	dims := make([]int, rank)
	size := 1
	for i := range dims {
		var d uint32
		if err := binary.Read(src, binary.BigEndian, &d); err != nil {
			return nil, fmt.Errorf("truncated header (dimension %d): %w", i, wrapEOF(err))
		}
		dims[i] = int(d)
		size *= int(d)
		if size > maxIDXElements {
			return nil, fmt.Errorf("header announces more than %d elements (dimensions %v…): corrupt file", maxIDXElements, dims[:i+1])
		}
	}
	// Read what is there, up to the announced size, instead of allocating
	// the announced size up front: a short file with a large header costs
	// only its own length.
	data, err := io.ReadAll(io.LimitReader(src, int64(size)))
	if err != nil {
		return nil, fmt.Errorf("corrupt data after %d bytes (header %v): %w", len(data), dims, err)
	}
	if len(data) < size {
		return nil, fmt.Errorf("truncated data: header %v announces %d bytes, got %d: %w", dims, size, len(data), io.ErrUnexpectedEOF)
	}
	// Anything after the announced data means the header and the data disagree.
	var extra [1]byte
	n, err := io.ReadFull(src, extra[:])
	if n > 0 {
		return nil, fmt.Errorf("trailing data after the %d bytes announced by header %v: corrupt file or wrong count", size, dims)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("corrupt compressed stream after the data: %w", err)
	}
	return &IDX{Dims: dims, Data: data}, nil
}

// EncodeIDX writes an IDX file of unsigned bytes with the given dimensions;
// len(data) must equal their product. It is used to make test fixtures.
func EncodeIDX(w io.Writer, dims []int, data []uint8) error {
	size := 1
	for _, d := range dims {
		size *= d
	}
	if size != len(data) {
		return fmt.Errorf("mnist.EncodeIDX: dims %v hold %d bytes, data has %d", dims, size, len(data))
	}
	var buf bytes.Buffer
	buf.Write([]byte{0, 0, 0x08, byte(len(dims))})
	for _, d := range dims {
		_ = binary.Write(&buf, binary.BigEndian, uint32(d))
	}
	buf.Write(data)
	_, err := w.Write(buf.Bytes())
	return err
}

func wrapEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

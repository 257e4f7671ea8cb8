package checkpoint

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"
)

// seal returns Magic, Version and body followed by their checksum: a file
// that passes the checksum, so that the fuzzer explores the structure.
func seal(body []byte) []byte {
	out := append([]byte(Magic), binary.LittleEndian.AppendUint32(nil, Version)...)
	out = append(out, body...)
	sum := sha256.Sum256(out)
	return append(out, sum[:]...)
}

// checkDecoded asserts what any accepted file must satisfy: it validates,
// and re-encodes to exactly the input.
func checkDecoded(t *testing.T, data []byte, ck *Checkpoint, err error) {
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error does not wrap ErrCorrupt: %v", err)
		}
		return
	}
	if err := ck.Validate(); err != nil {
		t.Fatalf("accepted an invalid checkpoint: %v", err)
	}
	again, err := Encode(ck)
	if err != nil || !bytes.Equal(again, data) {
		t.Fatalf("accepted file does not re-encode to itself (%v)", err)
	}
}

// FuzzDecode feeds arbitrary files to the checkpoint reader.
func FuzzDecode(f *testing.F) {
	ck, _ := testCheckpoint(f)
	raw, err := Encode(ck)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add(raw[:len(raw)/2])
	f.Add([]byte(Magic))
	f.Fuzz(func(t *testing.T, data []byte) {
		ck, err := Decode(data)
		checkDecoded(t, data, ck, err)
	})
}

// FuzzDecodeBody feeds arbitrary bodies behind a valid magic, version and
// checksum, so every input reaches the structure parser and Validate.
func FuzzDecodeBody(f *testing.F) {
	ck, _ := testCheckpoint(f)
	raw, err := Encode(ck)
	if err != nil {
		f.Fatal(err)
	}
	body := raw[headerLen : len(raw)-sha256.Size]
	f.Add(body)
	f.Add(body[:len(body)-3])
	f.Add([]byte{})
	empty, _ := Encode(&Checkpoint{Identity: Identity{Kind: "k", Config: []byte(`{}`)}})
	f.Add(empty[headerLen : len(empty)-sha256.Size])
	f.Fuzz(func(t *testing.T, body []byte) {
		data := seal(body)
		ck, err := Decode(data)
		checkDecoded(t, data, ck, err)
	})
}

// FuzzHistoryJSON feeds arbitrary history.json contents to the history
// reader: it never panics, and what it accepts validates and survives a
// write and a read unchanged.
func FuzzHistoryJSON(f *testing.F) {
	for _, s := range []string{
		`{"steps":[1,2,3],"loss":[1.5,null,-0.25],"elbo":[3,null,-0.5]}`,
		`{"steps":[1,2,3],"loss":[1,2]}`,
		`{"steps":[]}`,
		`{"steps":[1],"loss":[1e308],"kl":[-0]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var h History
		if err := h.UnmarshalJSON(data); err != nil {
			return
		}
		if err := h.Validate(); err != nil {
			t.Fatalf("accepted an invalid history: %v", err)
		}
		out, err := h.MarshalJSON()
		if err != nil {
			t.Fatalf("accepted history does not marshal: %v", err)
		}
		var h2 History
		if err := h2.UnmarshalJSON(out); err != nil {
			t.Fatalf("re-read of %s: %v", out, err)
		}
		out2, _ := h2.MarshalJSON()
		if !bytes.Equal(out, out2) {
			t.Fatalf("history changes on a second round trip: %s vs %s", out, out2)
		}
	})
}

// Package checkpoint is gosde's one checkpoint format: a single file per
// checkpoint, written atomically, that holds the format version, the model's
// kind and configuration, the training step, every context variable (weights,
// optimizer moments, the global step) and the training history, followed by
// a SHA-256 checksum over all of it.
//
// Layout (integers little-endian):
//
//	magic    "GOSDECKP" (8 bytes)
//	version  uint32 (Version)
//	kind     uint32 length + bytes
//	config   uint32 length + canonical JSON
//	step     int64
//	history  uint32 columns, each uint32 length + name; uint64 rows;
//	         rows × int64 steps; columns × rows × float64 values
//	vars     uint32 count, each: scope, name (uint32 length + bytes),
//	         trainable uint8, dtype uint32, rank uint32, rank × int64 dims,
//	         uint64 length + raw bytes
//	sha256   32 bytes over everything above
//
// Reading verifies the magic, the version and the checksum before anything
// else, so a flipped bit anywhere is an error naming the file; Load then
// compares the kind and configuration with the ones the caller asks for and
// refuses a mismatch with an error naming both. Nothing in this package
// deletes a file it did not write in this process (see Series).
package checkpoint

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gosde/gosde/internal/ctxvars"

	"github.com/gosde/gosde/internal/atomicfile"
)

// Version is the format version this package writes and reads.
const Version = 1

// Magic is the first 8 bytes of every checkpoint file.
const Magic = "GOSDECKP"

const headerLen = len(Magic) + 4

// ErrCorrupt is wrapped by the errors of files that are not intact
// checkpoints (wrong magic, version or checksum, bad structure).
var ErrCorrupt = errors.New("not an intact gosde checkpoint")

// ErrMismatch is wrapped by the error of Load when the checkpoint holds
// another model kind or configuration than the one asked for.
var ErrMismatch = errors.New("checkpoint is of another model")

// Identity is what a checkpoint must match to be resumed: the model kind
// (e.g. "odenet", "resnet", "latentsde", "latentode-spirals") and its
// configuration as canonical JSON (object keys sorted, no spaces).
type Identity struct {
	Kind   string
	Config json.RawMessage
}

// NewIdentity returns the identity of a model of kind configured by config
// (any value encoding/json can marshal: the model's config struct).
func NewIdentity(kind string, config any) (Identity, error) {
	if kind == "" {
		return Identity{}, fmt.Errorf("checkpoint.NewIdentity: kind must not be empty")
	}
	raw, err := json.Marshal(config)
	if err != nil {
		return Identity{}, fmt.Errorf("checkpoint.NewIdentity: config of %q: %w", kind, err)
	}
	c, err := canonical(raw)
	if err != nil {
		return Identity{}, fmt.Errorf("checkpoint.NewIdentity: config of %q: %w", kind, err)
	}
	return Identity{Kind: kind, Config: c}, nil
}

// canonical returns raw re-encoded with sorted keys and no spaces.
func canonical(raw []byte) (json.RawMessage, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("configuration is not valid JSON: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("configuration has data after its JSON value")
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// String is `kind {config}`.
func (id Identity) String() string { return fmt.Sprintf("%q %s", id.Kind, id.Config) }

// Checkpoint is one saved training state.
type Checkpoint struct {
	Identity
	// Step is the global training step the state was saved at.
	Step int
	// Vars are every variable of the model's context.
	Vars []ctxvars.Var
	// History is the training curve up to Step.
	History History
}

// Snapshot returns a checkpoint of ctx's variables for the model id at
// step, with a copy of hist.
func Snapshot(ctx *context.Context, id Identity, step int, hist History) (*Checkpoint, error) {
	vars, err := ctxvars.Snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("checkpoint.Snapshot: %w", err)
	}
	return &Checkpoint{Identity: id, Step: step, Vars: vars, History: hist.Clone()}, nil
}

// Restore sets ctx's variables to the checkpoint's (see ctxvars.Restore:
// every variable is checked before any is changed).
func (ck *Checkpoint) Restore(ctx *context.Context) error {
	if err := ctxvars.Restore(ctx, ck.Vars); err != nil {
		return fmt.Errorf("checkpoint: restoring step %d of %q: %w", ck.Step, ck.Kind, err)
	}
	return nil
}

// Validate returns an error naming what is inconsistent: an empty kind, a
// configuration that is not canonical JSON, a negative step, an invalid
// history or one that goes past Step, a variable whose bytes do not fill
// its shape, or two variables with the same scope and name.
func (ck *Checkpoint) Validate() error {
	if ck.Kind == "" {
		return fmt.Errorf("empty model kind")
	}
	c, err := canonical(ck.Config)
	if err != nil {
		return err
	}
	if !bytes.Equal(c, ck.Config) {
		return fmt.Errorf("configuration %s is not in canonical form %s", ck.Config, c)
	}
	if ck.Step < 0 {
		return fmt.Errorf("step must be ≥ 0, got %d", ck.Step)
	}
	if err := ck.History.Validate(); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if n := len(ck.History.Steps); n > 0 && ck.History.Steps[n-1] > ck.Step {
		return fmt.Errorf("history goes to step %d, past the checkpoint's step %d", ck.History.Steps[n-1], ck.Step)
	}
	seen := make(map[string]bool, len(ck.Vars))
	for _, v := range ck.Vars {
		if err := v.Check(); err != nil {
			return err
		}
		key := v.Scope + "\x00" + v.Name
		if seen[key] {
			return fmt.Errorf("variable %s/%s appears twice", v.Scope, v.Name)
		}
		seen[key] = true
	}
	return nil
}

// Check returns nil when the checkpoint holds the model want, else an error
// wrapping ErrMismatch that names both kinds and configurations.
func (ck *Checkpoint) Check(want Identity) error {
	wc, err := canonical(want.Config)
	if err != nil {
		return fmt.Errorf("checkpoint: requested configuration: %w", err)
	}
	if ck.Kind == want.Kind && bytes.Equal(ck.Config, wc) {
		return nil
	}
	return fmt.Errorf("%w: it holds a %q model with configuration %s, this run asks for a %q model with configuration %s",
		ErrMismatch, ck.Kind, ck.Config, want.Kind, wc)
}

// Encode returns the file form of ck (see the package documentation).
func Encode(ck *Checkpoint) ([]byte, error) {
	if err := ck.Validate(); err != nil {
		return nil, fmt.Errorf("checkpoint.Encode: %w", err)
	}
	var w writer
	w.buf.WriteString(Magic)
	w.u32(Version)
	w.str32(ck.Kind)
	w.bytes32(ck.Config)
	w.u64(uint64(ck.Step))
	h := ck.History
	w.u32(uint32(len(h.Columns)))
	for _, c := range h.Columns {
		w.str32(c.Name)
	}
	w.u64(uint64(len(h.Steps)))
	for _, s := range h.Steps {
		w.u64(uint64(s))
	}
	for _, c := range h.Columns {
		for _, v := range c.Values {
			w.u64(math.Float64bits(v))
		}
	}
	w.u32(uint32(len(ck.Vars)))
	for _, v := range ck.Vars {
		w.str32(v.Scope)
		w.str32(v.Name)
		t := byte(0)
		if v.Trainable {
			t = 1
		}
		w.buf.WriteByte(t)
		w.u32(uint32(v.DType))
		w.u32(uint32(len(v.Dims)))
		for _, d := range v.Dims {
			w.u64(uint64(d))
		}
		w.u64(uint64(len(v.Data)))
		w.buf.Write(v.Data)
	}
	sum := sha256.Sum256(w.buf.Bytes())
	w.buf.Write(sum[:])
	return w.buf.Bytes(), nil
}

// Decode parses and verifies the file form of a checkpoint: the magic, the
// version and the checksum first, then the structure (Validate). Errors wrap
// ErrCorrupt.
func Decode(data []byte) (*Checkpoint, error) {
	if len(data) < headerLen+sha256.Size || string(data[:len(Magic)]) != Magic {
		n := min(len(data), len(Magic))
		return nil, fmt.Errorf("%w: does not start with %q (got %q, %d bytes in all)", ErrCorrupt, Magic, data[:n], len(data))
	}
	body, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, fmt.Errorf("%w: SHA-256 checksum mismatch (stored %x, computed %x): the file was altered or damaged", ErrCorrupt, sum[:6], got[:6])
	}
	r := reader{b: body[len(Magic):]}
	if v := r.u32(); v != Version {
		return nil, fmt.Errorf("%w: format version %d, this program reads version %d", ErrCorrupt, v, Version)
	}
	ck, err := decodeBody(&r)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return ck, nil
}

// decodeBody reads what follows the version.
func decodeBody(r *reader) (*Checkpoint, error) {
	ck := &Checkpoint{}
	ck.Kind = r.str32("kind")
	ck.Config = json.RawMessage(bytes.Clone(r.bytes32("configuration")))
	step := r.u64()
	if step > math.MaxInt64 {
		return nil, fmt.Errorf("step %d out of range", step)
	}
	ck.Step = int(step)
	nCols := r.count32("history columns", 4)
	for range nCols {
		ck.History.Columns = append(ck.History.Columns, Column{Name: r.str32("history column name")})
	}
	rows := r.count64("history rows", 8*(1+nCols))
	if r.err == nil && rows > 0 {
		ck.History.Steps = make([]int, rows)
		for i := range ck.History.Steps {
			ck.History.Steps[i] = int(int64(r.u64()))
		}
		for c := range ck.History.Columns {
			vals := make([]float64, rows)
			for i := range vals {
				vals[i] = math.Float64frombits(r.u64())
			}
			ck.History.Columns[c].Values = vals
		}
	}
	nVars := r.count32("variables", 4+4+1+4+4+8)
	for range nVars {
		if r.err != nil {
			break
		}
		v := ctxvars.Var{Scope: r.str32("variable scope"), Name: r.str32("variable name")}
		switch t := r.byte(); t {
		case 0:
		case 1:
			v.Trainable = true
		default:
			r.fail(fmt.Errorf("variable %s/%s: trainable flag %d (want 0 or 1)", v.Scope, v.Name, t))
		}
		v.DType = int(r.u32())
		rank := r.count32("dimensions of "+v.Scope+"/"+v.Name, 8)
		if r.err == nil && rank > 0 {
			v.Dims = make([]int, rank)
			for i := range v.Dims {
				d := r.u64()
				if d > math.MaxInt32 {
					r.fail(fmt.Errorf("variable %s/%s: dimension %d out of range", v.Scope, v.Name, d))
				}
				v.Dims[i] = int(d)
			}
		}
		n := r.count64("bytes of "+v.Scope+"/"+v.Name, 1)
		if r.err == nil {
			v.Data = bytes.Clone(r.take(n))
		}
		ck.Vars = append(ck.Vars, v)
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%d unread bytes after the variables", len(r.b))
	}
	if err := ck.Validate(); err != nil {
		return nil, err
	}
	return ck, nil
}

// Write writes ck to path atomically (atomicfile.Write).
func Write(path string, ck *Checkpoint) error {
	data, err := Encode(ck)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, data); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// Read reads and verifies the checkpoint at path (see Decode); errors name
// the file.
func Read(path string) (*Checkpoint, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	ck, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return ck, nil
}

// Load reads the checkpoint at path and checks that it holds the model want
// (Check). It changes and deletes nothing.
func Load(path string, want Identity) (*Checkpoint, error) {
	ck, err := Read(path)
	if err != nil {
		return nil, err
	}
	if err := ck.Check(want); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w; nothing was changed or deleted (use another output directory, or the model that wrote it)", path, err)
	}
	return ck, nil
}

// writer appends little-endian fields.
type writer struct{ buf bytes.Buffer }

func (w *writer) u32(v uint32) { w.buf.Write(binary.LittleEndian.AppendUint32(nil, v)) }
func (w *writer) u64(v uint64) { w.buf.Write(binary.LittleEndian.AppendUint64(nil, v)) }
func (w *writer) str32(s string) {
	w.u32(uint32(len(s)))
	w.buf.WriteString(s)
}
func (w *writer) bytes32(b []byte) {
	w.u32(uint32(len(b)))
	w.buf.Write(b)
}

// reader consumes little-endian fields; the first failure sticks in err and
// later reads return zeros.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.fail(fmt.Errorf("truncated: %d bytes wanted, %d left", n, len(r.b)))
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) byte() byte {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// count32 reads a uint32 count of items of at least minSize bytes each and
// fails when the rest of the data cannot hold them.
func (r *reader) count32(what string, minSize int) int {
	n := r.u32()
	return r.check(what, uint64(n), minSize)
}

// count64 is count32 for a uint64 count.
func (r *reader) count64(what string, minSize int) int {
	return r.check(what, r.u64(), minSize)
}

func (r *reader) check(what string, n uint64, minSize int) int {
	if r.err != nil {
		return 0
	}
	if n > uint64(len(r.b))/uint64(max(minSize, 1)) {
		r.fail(fmt.Errorf("%s: count %d does not fit in the %d bytes left", what, n, len(r.b)))
		return 0
	}
	return int(n)
}

func (r *reader) str32(what string) string { return string(r.bytes32(what)) }

func (r *reader) bytes32(what string) []byte {
	n := r.count32(what, 1)
	return r.take(n)
}

package wiretest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/vmihailenco/msgpack/v5"
)

// Codec is the codec under test for T: a pair of functions, such as wire's, or Msgpack's
// dispatch to T's own methods.
type Codec[T any] struct {
	Encode func(*msgpack.Encoder, *T) error
	Decode func(*msgpack.Decoder, *T) error
}

// Msgpack is msgpack's dispatch on *T: T's EncodeMsgpack and DecodeMsgpack methods if it has
// them, reflection otherwise.
func Msgpack[T any]() Codec[T] {
	return Codec[T]{
		Encode: func(enc *msgpack.Encoder, v *T) error { return enc.Encode(v) },
		Decode: func(dec *msgpack.Decoder, v *T) error { return dec.Decode(v) },
	}
}

// Marshal encodes *v as msgpack.Marshal does, through c, or fails the test.
func (c Codec[T]) Marshal(t testing.TB, v *T) []byte {
	t.Helper()
	b, err := c.TryMarshal(v)
	if err != nil {
		t.Fatalf("marshal %T: %v", v, err)
	}
	return b
}

// TryMarshal encodes *v as msgpack.Marshal does (a pooled encoder), through c.
func (c Codec[T]) TryMarshal(v *T) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.GetEncoder()
	defer msgpack.PutEncoder(enc)
	enc.Reset(&buf)
	if err := c.Encode(enc, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Unmarshal decodes in into *v as msgpack.Unmarshal does (a pooled decoder), through c.
func (c Codec[T]) Unmarshal(in []byte, v *T) error {
	dec := msgpack.GetDecoder()
	defer msgpack.PutDecoder(dec)
	dec.UsePreallocateValues(true)
	dec.Reset(bytes.NewReader(in))
	return c.Decode(dec, v)
}

// ReadStream decodes in into *v through c from a reader that yields a byte at a time, whose
// length the decoder cannot know.
func (c Codec[T]) ReadStream(in []byte, v *T) error {
	return c.Decode(msgpack.NewDecoder(iotest.OneByteReader(bytes.NewReader(in))), v)
}

// CheckCompat is CheckCodec of T's own methods.
func CheckCompat[T, S any](t *testing.T, v T) {
	t.Helper()
	CheckCodec[T, S](t, Msgpack[T](), v)
}

// CheckCodec proves one value's wire compatibility: c writes the same bytes as reflection over
// the shadow S, and each side reads the other's bytes (also shuffled and with unknown keys,
// and c also from a stream) into the same value.
func CheckCodec[T, S any](t *testing.T, c Codec[T], v T) {
	t.Helper()
	want := AfterTrip(v)
	var s S
	Convert(t, &s, v)
	mine, theirs := c.Marshal(t, &v), MustMarshal(t, &s)
	if !bytes.Equal(mine, theirs) {
		t.Fatalf("codec wrote\n%x\nreflection wrote\n%x", mine, theirs)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	inputs := [][]byte{theirs, Scramble(t, theirs, rng), Scramble(t, theirs, rng), Scramble(t, theirs, rng)}
	for i, in := range inputs {
		var got T
		if err := c.Unmarshal(in, &got); err != nil {
			t.Fatalf("input %d: codec: %v", i, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("input %d: codec read\n%+v\nwant\n%+v", i, got, want)
		}
		var stream T
		if err := c.ReadStream(in, &stream); err != nil {
			t.Fatalf("input %d: codec from a stream: %v", i, err)
		}
		if !reflect.DeepEqual(stream, want) {
			t.Fatalf("input %d: codec read from a stream\n%+v\nwant\n%+v", i, stream, want)
		}
		var rs S
		if err := msgpack.Unmarshal(in, &rs); err != nil {
			t.Fatalf("input %d: reflection: %v", i, err)
		}
		var fromReflection T
		Convert(t, &fromReflection, rs)
		if !reflect.DeepEqual(fromReflection, want) {
			t.Fatalf("input %d: reflection read\n%+v\nwant\n%+v", i, fromReflection, want)
		}
	}
}

// CompatCases is CodecCases of T's own methods.
func CompatCases[T, S any](t *testing.T, full T, extra ...T) {
	CodecCases[T, S](t, Msgpack[T](), full, extra...)
}

// CodecCases runs CheckCodec over the Variants of full and over each extra value.
func CodecCases[T, S any](t *testing.T, c Codec[T], full T, extra ...T) {
	for name, v := range Variants(t, full) {
		t.Run(name, func(t *testing.T) { CheckCodec[T, S](t, c, v) })
	}
	for i, v := range extra {
		t.Run(fmt.Sprint("extra ", i), func(t *testing.T) { CheckCodec[T, S](t, c, v) })
	}
}

// FuzzCodec is FuzzCodecOf T's own methods.
func FuzzCodec[T, S any](f *testing.F, seeds ...T) {
	FuzzCodecOf[T, S](f, Msgpack[T](), seeds...)
}

// FuzzCodecOf checks c's decoder on arbitrary input: an error or a value, never a panic;
// whatever it accepts, reflection over the shadow S accepts too and reads the same value
// (unless a key repeats, where the two differ by design); and c writes that value back
// exactly as reflection does. Reflection runs only on input c accepted: on anything else it
// may try to allocate whatever length the input claims.
func FuzzCodecOf[T, S any](f *testing.F, c Codec[T], seeds ...T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, v := range seeds {
		raw := c.Marshal(f, &v)
		f.Add(raw)
		f.Add(Scramble(f, raw, rng))
		f.Add(raw[:len(raw)/2])
	}
	f.Add([]byte{0xc0})
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, in []byte) {
		var got T
		if err := c.Unmarshal(in, &got); err != nil {
			return
		}
		var sh S
		if err := msgpack.Unmarshal(in, &sh); err != nil {
			t.Fatalf("the codec accepted %x, reflection refuses it: %v", in, err)
		}
		if DupKeys(in) {
			return
		}
		var want T
		Convert(t, &want, sh)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%x: codec read\n%+v\nreflection read\n%+v", in, got, want)
		}
		if mine, theirs := c.Marshal(t, &got), MustMarshal(t, &sh); !bytes.Equal(mine, theirs) {
			t.Fatalf("%x: codec wrote\n%x\nreflection wrote\n%x", in, mine, theirs)
		}
	})
}

// CheckNilFields is CheckNilFieldsOf T's own methods.
func CheckNilFields[T, S any](t *testing.T) {
	t.Helper()
	CheckNilFieldsOf[T, S](t, Msgpack[T]())
}

// CheckNilFieldsOf sends a map holding nil under each key of S in turn: c and reflection
// both read the zero value.
func CheckNilFieldsOf[T, S any](t *testing.T, c Codec[T]) {
	t.Helper()
	st := reflect.TypeFor[S]()
	for i := 0; i < st.NumField(); i++ {
		key, _, _ := strings.Cut(st.Field(i).Tag.Get("msgpack"), ",")
		if key == "-" {
			continue
		}
		in := MustMarshal(t, map[string]any{key: nil})
		var got T
		if err := c.Unmarshal(in, &got); err != nil || !reflect.DeepEqual(got, *new(T)) {
			t.Errorf("%s: nil %q: %v, %+v", st.Name(), key, err, got)
		}
		var sh S
		if err := msgpack.Unmarshal(in, &sh); err != nil || !reflect.DeepEqual(sh, *new(S)) {
			t.Errorf("%s: reflection reads nil %q as %v, %+v", st.Name(), key, err, sh)
		}
	}
}

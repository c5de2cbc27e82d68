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
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// Convert deep-copies src into *dst by field name, through structs, slices and pointers. It
// fails when the two sides differ in a field's name or tag, so a field added to a wire type
// but not to its shadow (and so perhaps not to its codec) fails the tests.
func Convert(t testing.TB, dst, src any) {
	t.Helper()
	if err := convertValue(reflect.ValueOf(dst).Elem(), reflect.ValueOf(src)); err != nil {
		t.Fatal(err)
	}
}

func convertValue(d, s reflect.Value) error {
	switch s.Kind() {
	case reflect.Struct:
		if d.Kind() != reflect.Struct || d.NumField() != s.NumField() {
			return fmt.Errorf("%s and %s differ in their fields", d.Type(), s.Type())
		}
		for i := 0; i < s.NumField(); i++ {
			sf := s.Type().Field(i)
			df, ok := d.Type().FieldByName(sf.Name)
			if !ok || df.Tag != sf.Tag {
				return fmt.Errorf("%s.%s %q has no twin in %s", s.Type(), sf.Name, sf.Tag, d.Type())
			}
			if err := convertValue(d.FieldByIndex(df.Index), s.Field(i)); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if s.IsNil() {
			d.SetZero()
			return nil
		}
		out := reflect.MakeSlice(d.Type(), s.Len(), s.Len())
		for i := 0; i < s.Len(); i++ {
			if err := convertValue(out.Index(i), s.Index(i)); err != nil {
				return err
			}
		}
		d.Set(out)
	case reflect.Pointer:
		if s.IsNil() {
			d.SetZero()
			return nil
		}
		p := reflect.New(d.Type().Elem())
		if err := convertValue(p.Elem(), s.Elem()); err != nil {
			return err
		}
		d.Set(p)
	default:
		if !s.Type().ConvertibleTo(d.Type()) {
			return fmt.Errorf("cannot convert %s to %s", s.Type(), d.Type())
		}
		d.Set(s.Convert(d.Type()))
	}
	return nil
}

// AfterTrip is what v becomes after any msgpack round trip, codec or reflection: omitempty
// drops empty slices, so an empty non-nil one comes back nil, and `msgpack:"-"` fields are not
// sent at all. Fields without omitempty keep nil as nil and empty as empty.
func AfterTrip[T any](v T) T {
	p := reflect.New(reflect.TypeOf(v))
	if err := convertValue(p.Elem(), reflect.ValueOf(v)); err != nil { // a deep copy
		panic(err)
	}
	trip(p.Elem())
	return p.Elem().Interface().(T)
}

func trip(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			tag := v.Type().Field(i).Tag.Get("msgpack")
			f := v.Field(i)
			if tag == "-" || strings.HasSuffix(tag, ",omitempty") && f.Kind() == reflect.Slice && f.Len() == 0 {
				f.SetZero()
			}
			trip(f)
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Struct {
			for i := 0; i < v.Len(); i++ {
				trip(v.Index(i))
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			trip(v.Elem())
		}
	}
}

// RequireAllSet fails unless every sent field of v, nested ones included, is non-zero, so
// that a "full" test value covers every field.
func RequireAllSet(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if f.Tag.Get("msgpack") == "-" {
				continue
			}
			if v.Field(i).IsZero() {
				t.Fatalf("%s.%s is zero in the full value", path, f.Name)
			}
			RequireAllSet(t, v.Field(i), path+"."+f.Name)
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			RequireAllSet(t, v.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Pointer:
		RequireAllSet(t, v.Elem(), path)
	}
}

// Variants derives the cases from a full value: the zero value, the full one, each sent field
// alone, and each slice field empty but not nil.
func Variants[T any](t *testing.T, full T) map[string]T {
	RequireAllSet(t, reflect.ValueOf(full), reflect.TypeOf(full).Name())
	out := map[string]T{"zero": *new(T), "full": full}
	fv := reflect.ValueOf(full)
	for i := 0; i < fv.NumField(); i++ {
		f := fv.Type().Field(i)
		one := reflect.New(fv.Type()).Elem()
		one.Field(i).Set(fv.Field(i))
		out["only "+f.Name] = one.Interface().(T)
		if f.Type.Kind() == reflect.Slice {
			empty := reflect.New(fv.Type()).Elem()
			empty.Field(i).Set(reflect.MakeSlice(f.Type, 0, 0))
			out["empty "+f.Name] = empty.Interface().(T)
		}
	}
	return out
}

// MustMarshal encodes v or fails the test.
func MustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %T: %v", v, err)
	}
	return b
}

// Scramble rewrites an encoded value with the entries of every map shuffled and unknown
// entries of assorted kinds added, at every depth.
func Scramble(t testing.TB, raw []byte, rng *rand.Rand) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := scrambleValue(msgpack.NewDecoder(bytes.NewReader(raw)), &out, rng); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

var unknownEntries = [][2]any{
	{"zz", map[string]any{"k": []any{1, "x", nil, -7.5}}},
	{"a-key-longer-than-any-of-ours", uint64(1) << 60},
	{"", true},
	{nil, []byte("nil key")},
	{[]byte("bb"), map[string]any{}},
}

func scrambleValue(dec *msgpack.Decoder, out *bytes.Buffer, rng *rand.Rand) error {
	code, err := dec.PeekCode()
	if err != nil {
		return err
	}
	enc := msgpack.NewEncoder(out)
	switch {
	case msgpcode.IsFixedMap(code) || code == msgpcode.Map16 || code == msgpcode.Map32:
		n, _ := dec.DecodeMapLen()
		var entries [][]byte
		for i := 0; i < n; i++ {
			var e bytes.Buffer
			k, err := dec.DecodeRaw()
			if err != nil {
				return err
			}
			e.Write(k)
			if err := scrambleValue(dec, &e, rng); err != nil {
				return err
			}
			entries = append(entries, e.Bytes())
		}
		for _, u := range unknownEntries[:rng.IntN(len(unknownEntries)+1)] {
			k, _ := msgpack.Marshal(u[0])
			v, _ := msgpack.Marshal(u[1])
			entries = append(entries, append(k, v...))
		}
		rng.Shuffle(len(entries), func(i, j int) { entries[i], entries[j] = entries[j], entries[i] })
		enc.EncodeMapLen(len(entries))
		for _, e := range entries {
			out.Write(e)
		}
	case msgpcode.IsFixedArray(code) || code == msgpcode.Array16 || code == msgpcode.Array32:
		n, _ := dec.DecodeArrayLen()
		enc.EncodeArrayLen(n)
		for i := 0; i < n; i++ {
			if err := scrambleValue(dec, out, rng); err != nil {
				return err
			}
		}
	default:
		raw, err := dec.DecodeRaw()
		if err != nil {
			return err
		}
		out.Write(raw)
	}
	return nil
}

// DupKeys reports whether any map in an encoded value repeats a key, where the codecs keep
// the last value whole and reflection merges nested structs.
func DupKeys(raw []byte) bool {
	dec := msgpack.NewDecoder(bytes.NewReader(raw))
	var walk func() bool
	walk = func() bool {
		code, err := dec.PeekCode()
		if err != nil {
			return false
		}
		switch {
		case msgpcode.IsFixedMap(code) || code == msgpcode.Map16 || code == msgpcode.Map32:
			n, _ := dec.DecodeMapLen()
			seen := map[string]bool{}
			for i := 0; i < n; i++ {
				k, err := dec.DecodeRaw()
				if err != nil {
					return false
				}
				var name string
				if err := msgpack.Unmarshal(k, &name); err != nil {
					name = "raw:" + string(k)
				}
				if seen[name] || walk() {
					return true
				}
				seen[name] = true
			}
		case msgpcode.IsFixedArray(code) || code == msgpcode.Array16 || code == msgpcode.Array32:
			n, _ := dec.DecodeArrayLen()
			for i := 0; i < n; i++ {
				if walk() {
					return true
				}
			}
		default:
			dec.Skip()
		}
		return false
	}
	return walk()
}

// CheckCompat proves one value's wire compatibility: the codec of T (methods on *T) writes
// the same bytes as reflection over the shadow S, and each side reads the other's bytes (also
// shuffled and with unknown keys, and the codec also from a stream) into the same value.
func CheckCompat[T, S any](t *testing.T, v T) {
	t.Helper()
	want := AfterTrip(v)
	var s S
	Convert(t, &s, v)
	mine, theirs := MustMarshal(t, &v), MustMarshal(t, &s)
	if !bytes.Equal(mine, theirs) {
		t.Fatalf("codec wrote\n%x\nreflection wrote\n%x", mine, theirs)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	inputs := [][]byte{theirs, Scramble(t, theirs, rng), Scramble(t, theirs, rng), Scramble(t, theirs, rng)}
	for i, in := range inputs {
		var got T
		if err := msgpack.Unmarshal(in, &got); err != nil {
			t.Fatalf("input %d: codec: %v", i, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("input %d: codec read\n%+v\nwant\n%+v", i, got, want)
		}
		var stream T
		if err := msgpack.NewDecoder(iotest.OneByteReader(bytes.NewReader(in))).Decode(&stream); err != nil {
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

// CompatCases runs CheckCompat over the Variants of full and over each extra value.
func CompatCases[T, S any](t *testing.T, full T, extra ...T) {
	for name, v := range Variants(t, full) {
		t.Run(name, func(t *testing.T) { CheckCompat[T, S](t, v) })
	}
	for i, v := range extra {
		t.Run(fmt.Sprint("extra ", i), func(t *testing.T) { CheckCompat[T, S](t, v) })
	}
}

// FuzzCodec checks T's decoder on arbitrary input: an error or a value, never a panic;
// whatever it accepts, reflection over the shadow S accepts too and reads the same value
// (unless a key repeats, where the two differ by design); and the codec writes that value
// back exactly as reflection does. Reflection runs only on input the codec accepted: on
// anything else it may try to allocate whatever length the input claims.
func FuzzCodec[T, S any](f *testing.F, seeds ...T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, v := range seeds {
		raw := MustMarshal(f, &v)
		f.Add(raw)
		f.Add(Scramble(f, raw, rng))
		f.Add(raw[:len(raw)/2])
	}
	f.Add([]byte{0xc0})
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, in []byte) {
		var got T
		if err := msgpack.Unmarshal(in, &got); err != nil {
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
		if mine, theirs := MustMarshal(t, &got), MustMarshal(t, &sh); !bytes.Equal(mine, theirs) {
			t.Fatalf("%x: codec wrote\n%x\nreflection wrote\n%x", in, mine, theirs)
		}
	})
}

// CheckNilFields sends a map holding nil under each key of S in turn: T's codec and
// reflection both read the zero value.
func CheckNilFields[T, S any](t *testing.T) {
	t.Helper()
	st := reflect.TypeFor[S]()
	for i := 0; i < st.NumField(); i++ {
		key, _, _ := strings.Cut(st.Field(i).Tag.Get("msgpack"), ",")
		if key == "-" {
			continue
		}
		in := MustMarshal(t, map[string]any{key: nil})
		var got T
		if err := msgpack.Unmarshal(in, &got); err != nil || !reflect.DeepEqual(got, *new(T)) {
			t.Errorf("%s: nil %q: %v, %+v", st.Name(), key, err, got)
		}
		var sh S
		if err := msgpack.Unmarshal(in, &sh); err != nil || !reflect.DeepEqual(sh, *new(S)) {
			t.Errorf("%s: reflection reads nil %q as %v, %+v", st.Name(), key, err, sh)
		}
	}
}

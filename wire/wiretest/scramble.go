package wiretest

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

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

// unknownEntries are keys and values of assorted kinds that no decoder of ours knows.
func unknownEntries() [][2]any {
	return [][2]any{
		{"zz", map[string]any{"k": []any{1, "x", nil, -7.5}}},
		{"a-key-longer-than-any-of-ours", uint64(1) << 60},
		{"", true},
		{nil, []byte("nil key")},
		{[]byte("bb"), map[string]any{}},
	}
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
		unknown := unknownEntries()
		for _, u := range unknown[:rng.IntN(len(unknown)+1)] {
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

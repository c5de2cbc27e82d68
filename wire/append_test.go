package wire_test

import (
	"bytes"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/sessiongate/sessiongate/sessions"
	"github.com/sessiongate/sessiongate/wire"
	"github.com/sessiongate/sessiongate/wire/wiretest"
)

// sameAsEncodeOp fails unless AppendOp gives exactly EncodeOp's bytes for o.
func sameAsEncodeOp(t *testing.T, o *sessions.Op) {
	t.Helper()
	var buf bytes.Buffer
	if err := wire.EncodeOp(msgpack.NewEncoder(&buf), o); err != nil {
		t.Fatal(err)
	}
	prefix := []byte("kept")
	got := wire.AppendOp(prefix, o)
	if !bytes.Equal(got[:len(prefix)], []byte("kept")) || !bytes.Equal(got[len(prefix):], buf.Bytes()) {
		t.Fatalf("AppendOp differs from EncodeOp for %+v:\n got %x\nwant %x", o, got[len(prefix):min(len(got), 200)], buf.Bytes()[:min(buf.Len(), 196)])
	}
}

func TestAppendOpIsEncodeOp(t *testing.T) {
	long := func(n int) []byte { return bytes.Repeat([]byte("x"), n) }
	ops := []sessions.Op{{}, wiretest.FullOp(), wiretest.BigOp(), {Ended: true, Forget: 1}}
	for _, n := range []int{1, 31, 32, 255, 256, 65535, 65536, 70_000} {
		o := wiretest.FullOp()
		o.Owner, o.IP = long(n), long(n)
		o.Fields = []sessions.FieldOp{{Name: long(n), Ver: 7, Data: long(n)}, {Name: nil, Ver: 0}}
		ops = append(ops, o)
	}
	for _, n := range []int{15, 16, 17} {
		o := wiretest.FullOp()
		o.Fields = make([]sessions.FieldOp, n)
		ops = append(ops, o)
	}
	for i := range ops {
		sameAsEncodeOp(t, &ops[i])
	}
	arr := wire.AppendArrayLen(nil, 70_000)
	var buf bytes.Buffer
	msgpack.NewEncoder(&buf).EncodeArrayLen(70_000)
	if !bytes.Equal(arr, buf.Bytes()) {
		t.Fatalf("AppendArrayLen %x, EncodeArrayLen %x", arr, buf.Bytes())
	}
}

// Any op the decoder takes in is appended as EncodeOp writes it.
func FuzzAppendOp(f *testing.F) {
	for _, o := range []sessions.Op{{}, wiretest.FullOp()} {
		var buf bytes.Buffer
		wire.EncodeOp(msgpack.NewEncoder(&buf), &o)
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var o sessions.Op
		if err := wire.DecodeOp(msgpack.NewDecoder(bytes.NewReader(b)), &o); err != nil {
			return
		}
		sameAsEncodeOp(t, &o)
	})
}

package wire_test

import (
	"bytes"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/sessiongate/sessiongate/sessions"
	"github.com/sessiongate/sessiongate/wire"
)

// benchCodec is the round trip of v through enc and dec with a long-lived encoder, decoder and
// buffer, so that it counts the codec and not the plumbing around it.
func benchCodec[T any](b *testing.B, v *T, enc func(*msgpack.Encoder, *T) error, dec func(*msgpack.Decoder, *T) error) {
	var buf bytes.Buffer
	var rd bytes.Reader
	e, d := msgpack.NewEncoder(&buf), msgpack.NewDecoder(&rd)
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := enc(e, v); err != nil {
			b.Fatal(err)
		}
		rd.Reset(buf.Bytes())
		var out T
		if err := dec(d, &out); err != nil {
			b.Fatal(err)
		}
	}
}

func benchID() sessions.ID {
	id, _ := sessions.NewID(bytes.NewReader(bytes.Repeat([]byte{9}, 64)), -1)
	return id
}

// BenchmarkCommand is the round trip of a forwarded PGET and PSET.
func BenchmarkCommand(b *testing.B) {
	id, tenant := benchID(), sessions.TenantOf([]byte("bench"))
	b.Run("PGET", func(b *testing.B) {
		c := sessions.Command{Kind: sessions.KindPGet, Tenant: tenant, ID: id, Name: []byte("user")}
		benchCodec(b, &c, wire.EncodeCommand, wire.DecodeCommand)
	})
	b.Run("PSET", func(b *testing.B) {
		c := sessions.Command{Kind: sessions.KindPSet, Tenant: tenant, ID: id, Name: []byte("user"), Data: make([]byte, 64)}
		benchCodec(b, &c, wire.EncodeCommand, wire.DecodeCommand)
	})
}

// BenchmarkResult is the round trip of a PGETALL's result: four 64-byte payloads.
func BenchmarkResult(b *testing.B) {
	r := sessions.Result{Fields: make([]sessions.Field, 4)}
	for i := range r.Fields {
		r.Fields[i] = sessions.Field{Name: []byte{'f', byte('0' + i)}, Data: make([]byte, 64)}
	}
	benchCodec(b, &r, wire.EncodeResult, wire.DecodeResult)
}

// BenchmarkOp is the round trip of the op a PSET of 64 bytes replicates.
func BenchmarkOp(b *testing.B) {
	o := sessions.Op{ID: benchID(), Tenant: sessions.TenantOf([]byte("bench")), HVer: 3, LastSeen: 1_700_000_000_123,
		Created: 1_700_000_000, Owner: []byte("user-42"),
		Fields: []sessions.FieldOp{{Name: []byte("user"), Ver: 2, Data: make([]byte, 64)}}}
	benchCodec(b, &o, wire.EncodeOp, wire.DecodeOp)
}

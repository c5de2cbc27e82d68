package wire_test

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/sessiongate/sessiongate/replication"
	"github.com/sessiongate/sessiongate/sessions"
	"github.com/sessiongate/sessiongate/wire"
	"github.com/sessiongate/sessiongate/wire/wiretest"
)

// The messages as reflection saw them before the codecs (see wire/wiretest).

type shadowCommandMsg struct {
	Cmd      wiretest.Command `msgpack:"c"`
	Hops     int              `msgpack:"h"`
	Via      string           `msgpack:"v,omitempty"`
	Deadline int64            `msgpack:"dl,omitempty"`
}

type shadowResultMsg struct {
	Result wiretest.Result `msgpack:"r"`
	Code   sessions.Code   `msgpack:"c,omitempty"`
	Max    int             `msgpack:"m,omitempty"`
	Msg    string          `msgpack:"e,omitempty"`
	Ops    []wiretest.Op   `msgpack:"o,omitempty"`
}

type shadowOpsMsg struct {
	Ops []wiretest.Op `msgpack:"o"`
}

type shadowBatchMsg struct {
	Cmds     []wiretest.Command `msgpack:"c"`
	Hops     int                `msgpack:"h"`
	Via      string             `msgpack:"v,omitempty"`
	Deadline int64              `msgpack:"dl,omitempty"`
}

type shadowBatchResultMsg struct {
	Results []shadowResultMsg `msgpack:"r"`
}

func fullBatchMsg() wire.BatchMsg {
	return wire.BatchMsg{Cmds: []sessions.Command{wiretest.FullCommand(), wiretest.FullCommand()}, Hops: 1, Via: "n1", Deadline: 1_800_000_000_123}
}

func fullBatchResultMsg() wire.BatchResultMsg {
	return wire.BatchResultMsg{Results: []wire.ResultMsg{fullResultMsg(), fullResultMsg()}}
}

func fullCommandMsg() wire.CommandMsg {
	return wire.CommandMsg{Cmd: wiretest.FullCommand(), Hops: 2, Via: "node-2", Deadline: 1_800_000_000_456}
}

func fullResultMsg() wire.ResultMsg {
	return wire.ResultMsg{Result: wiretest.FullResult(), Code: sessions.CodeOwnerLimit, Max: 1 << 40, Msg: "TRYAGAIN x",
		Ops: []sessions.Op{wiretest.FullOp()}}
}

func fullOpsMsg() wire.OpsMsg {
	return wire.OpsMsg{Ops: []sessions.Op{wiretest.FullOp(), wiretest.FullOp()}}
}

func TestMessageCodecsMatchReflection(t *testing.T) {
	t.Run("wire.CommandMsg", func(t *testing.T) {
		wiretest.CompatCases[wire.CommandMsg, shadowCommandMsg](t, fullCommandMsg(),
			wire.CommandMsg{Cmd: wiretest.BigCommand(), Hops: -1})
	})
	t.Run("wire.ResultMsg", func(t *testing.T) {
		wiretest.CompatCases[wire.ResultMsg, shadowResultMsg](t, fullResultMsg(),
			wire.ResultMsg{Result: wiretest.BigResult(), Code: 255, Max: -1, Msg: strings.Repeat("e", 70_000)})
	})
	t.Run("wire.OpsMsg", func(t *testing.T) {
		wiretest.CompatCases[wire.OpsMsg, shadowOpsMsg](t, fullOpsMsg(),
			wire.OpsMsg{Ops: make([]sessions.Op, 20)}, wire.OpsMsg{Ops: []sessions.Op{wiretest.BigOp()}})
	})
	t.Run("wire.BatchMsg", func(t *testing.T) {
		wiretest.CompatCases[wire.BatchMsg, shadowBatchMsg](t, fullBatchMsg(),
			wire.BatchMsg{Cmds: make([]sessions.Command, 300), Hops: 3}, wire.BatchMsg{Cmds: []sessions.Command{wiretest.BigCommand()}})
	})
	t.Run("wire.BatchResultMsg", func(t *testing.T) {
		wiretest.CompatCases[wire.BatchResultMsg, shadowBatchResultMsg](t, fullBatchResultMsg(),
			wire.BatchResultMsg{Results: make([]wire.ResultMsg, 300)})
	})
}

func TestMessageCodecNilFields(t *testing.T) {
	wiretest.CheckNilFields[wire.CommandMsg, shadowCommandMsg](t)
	wiretest.CheckNilFields[wire.ResultMsg, shadowResultMsg](t)
	wiretest.CheckNilFields[wire.OpsMsg, shadowOpsMsg](t)
	wiretest.CheckNilFields[wire.BatchMsg, shadowBatchMsg](t)
	wiretest.CheckNilFields[wire.BatchResultMsg, shadowBatchResultMsg](t)
}

// TestCallNeedsPointers shows why the call sites pass &msg: a message passed by value cannot
// reach its pointer-receiver encoder, and the call fails before anything is sent.
func TestCallNeedsPointers(t *testing.T) {
	srv := replication.NewServer(replication.ServerConfig{}, echoHandler{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	cl := replication.NewClient(replication.ClientConfig{})
	defer cl.Close()
	ctx := context.Background()
	msg := fullCommandMsg()
	if err := cl.Call(ctx, ln.Addr().String(), wire.Forward, msg, nil); err == nil ||
		!strings.Contains(err.Error(), "non-addressable") {
		t.Fatalf("a wire.CommandMsg value: %v, want a non-addressable error", err)
	}
	var resp wire.ResultMsg
	if err := cl.Call(ctx, ln.Addr().String(), wire.Forward, &msg, &resp); err != nil {
		t.Fatal(err)
	}
	want := wiretest.AfterTrip(fullResultMsg())
	if !bytes.Equal(wiretest.MustMarshal(t, &resp), wiretest.MustMarshal(t, &want)) {
		t.Fatalf("the answer came back as %+v", resp)
	}
}

// echoHandler decodes a wire.CommandMsg and answers fullResultMsg, through the real transport.
type echoHandler struct{}

func (echoHandler) ServeCall(_ context.Context, _ replication.Method, dec *msgpack.Decoder) (any, error) {
	var req wire.CommandMsg
	if err := dec.Decode(&req); err != nil {
		return nil, err
	}
	m := fullResultMsg()
	return &m, nil
}

func FuzzCommandMsgCodec(f *testing.F) {
	wiretest.FuzzCodec[wire.CommandMsg, shadowCommandMsg](f, wire.CommandMsg{}, fullCommandMsg())
}

func FuzzResultMsgCodec(f *testing.F) {
	wiretest.FuzzCodec[wire.ResultMsg, shadowResultMsg](f, wire.ResultMsg{}, fullResultMsg(), wire.ResultMsg{Msg: "e"})
}

func FuzzOpsMsgCodec(f *testing.F) {
	wiretest.FuzzCodec[wire.OpsMsg, shadowOpsMsg](f, wire.OpsMsg{}, wire.OpsMsg{Ops: []sessions.Op{wiretest.FullOp(), {}}})
}

func FuzzBatchMsgCodec(f *testing.F) {
	wiretest.FuzzCodec[wire.BatchMsg, shadowBatchMsg](f, wire.BatchMsg{}, fullBatchMsg())
}

func FuzzBatchResultMsgCodec(f *testing.F) {
	wiretest.FuzzCodec[wire.BatchResultMsg, shadowBatchResultMsg](f, wire.BatchResultMsg{}, fullBatchResultMsg())
}

// roundTrip encodes in and decodes it into out with long-lived encoder, decoder and buffer,
// so that a benchmark counts the codec and not the plumbing around it.
type roundTrip struct {
	buf bytes.Buffer
	rd  bytes.Reader
	enc *msgpack.Encoder
	dec *msgpack.Decoder
}

func newRoundTrip() *roundTrip {
	rt := &roundTrip{}
	rt.enc = msgpack.NewEncoder(&rt.buf)
	rt.dec = msgpack.NewDecoder(&rt.rd)
	return rt
}

func (rt *roundTrip) run(b *testing.B, in, out any) {
	rt.buf.Reset()
	if err := rt.enc.Encode(in); err != nil {
		b.Fatal(err)
	}
	rt.rd.Reset(rt.buf.Bytes())
	if err := rt.dec.Decode(out); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCommandCodec is the msgpack round trip of a forwarded command.
func BenchmarkCommandCodec(b *testing.B) {
	id := benchID()
	for _, tc := range []struct {
		name string
		msg  wire.CommandMsg
	}{
		{"PGET", wire.CommandMsg{Cmd: sessions.Command{Kind: sessions.KindPGet, Tenant: benchTenant, ID: id, Name: []byte("user")}}},
		{"PSET", wire.CommandMsg{Cmd: sessions.Command{Kind: sessions.KindPSet, Tenant: benchTenant, ID: id, Name: []byte("user"), Data: make([]byte, 64)}, Hops: 1}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			rt := newRoundTrip()
			b.ReportAllocs()
			for b.Loop() {
				var out wire.CommandMsg
				rt.run(b, &tc.msg, &out)
			}
		})
	}
}

// BenchmarkResultCodec is the msgpack round trip of a forwarded command's result.
func BenchmarkResultCodec(b *testing.B) {
	fields := make([]sessions.Field, 4)
	for i := range fields {
		fields[i] = sessions.Field{Name: []byte{'f', byte('0' + i)}, Data: make([]byte, 64)}
	}
	info := &sessions.Info{ID: benchID(), Owner: []byte("user-42"), IP: []byte("10.0.0.1"), UA: []byte("Mozilla/5.0"),
		Created: 1_700_000_000, LastSeen: 1_700_000_000_123, TTL: 3_600_000, Reads: 3, Writes: 2, Payloads: 4}
	for _, tc := range []struct {
		name string
		msg  wire.ResultMsg
	}{
		{"PGET", wire.ResultMsg{Result: sessions.Result{Data: make([]byte, 64)}}},
		{"PGETALL", wire.ResultMsg{Result: sessions.Result{Fields: fields}}},
		{"INFO", wire.ResultMsg{Result: sessions.Result{Info: info}}},
		{"Error", wire.ResultMsg{Code: sessions.CodeOwnerLimit, Max: 5}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			rt := newRoundTrip()
			b.ReportAllocs()
			for b.Loop() {
				var out wire.ResultMsg
				rt.run(b, &tc.msg, &out)
			}
		})
	}
}

var benchTenant = sessions.TenantOf([]byte("bench"))

package wire_test

import (
	"bytes"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/sessiongate/sessiongate/sessions"
	"github.com/sessiongate/sessiongate/wire"
	"github.com/sessiongate/sessiongate/wire/wiretest"
)

// codec pairs one of wire's encoders with its decoder for wiretest's checks.
func codec[T any](enc func(*msgpack.Encoder, *T) error, dec func(*msgpack.Decoder, *T) error) wiretest.Codec[T] {
	return wiretest.Codec[T]{Encode: enc, Decode: dec}
}

func commandCodec() wiretest.Codec[sessions.Command] {
	return codec(wire.EncodeCommand, wire.DecodeCommand)
}

func resultCodec() wiretest.Codec[sessions.Result] {
	return codec(wire.EncodeResult, wire.DecodeResult)
}

func opCodec() wiretest.Codec[sessions.Op] { return codec(wire.EncodeOp, wire.DecodeOp) }

func TestCodecMatchesReflection(t *testing.T) {
	t.Run("Command", func(t *testing.T) {
		wiretest.CodecCases[sessions.Command, wiretest.Command](t, commandCodec(), wiretest.FullCommand(), wiretest.BigCommand())
	})
	t.Run("Update", func(t *testing.T) {
		wiretest.CodecCases[sessions.Update, wiretest.Update](t, codec(wire.EncodeUpdate, wire.DecodeUpdate), wiretest.FullCommand().Updates[0])
	})
	t.Run("Result", func(t *testing.T) {
		wiretest.CodecCases[sessions.Result, wiretest.Result](t, resultCodec(), wiretest.FullResult(), wiretest.BigResult())
	})
	t.Run("Field", func(t *testing.T) {
		wiretest.CodecCases[sessions.Field, wiretest.Field](t, codec(wire.EncodeField, wire.DecodeField), wiretest.FullResult().Fields[0])
	})
	t.Run("Info", func(t *testing.T) {
		wiretest.CodecCases[sessions.Info, wiretest.Info](t, codec(wire.EncodeInfo, wire.DecodeInfo), wiretest.FullInfo(0))
	})
	t.Run("Op", func(t *testing.T) {
		wiretest.CodecCases[sessions.Op, wiretest.Op](t, opCodec(), wiretest.FullOp(), wiretest.BigOp())
	})
	t.Run("FieldOp", func(t *testing.T) {
		wiretest.CodecCases[sessions.FieldOp, wiretest.FieldOp](t, codec(wire.EncodeFieldOp, wire.DecodeFieldOp), wiretest.FullOp().Fields[0])
	})
}

// TestReflectionFallback pins down that msgpack encodes the sessions types by reflection
// (they implement none of its interfaces), that reflection writes what the codecs write
// wherever the value sits, and how nil reads.
func TestReflectionFallback(t *testing.T) {
	ifaces := []reflect.Type{reflect.TypeFor[msgpack.CustomEncoder](), reflect.TypeFor[msgpack.CustomDecoder](),
		reflect.TypeFor[msgpack.Marshaler](), reflect.TypeFor[msgpack.Unmarshaler]()}
	for _, typ := range []reflect.Type{reflect.TypeFor[*sessions.Command](), reflect.TypeFor[*sessions.Update](),
		reflect.TypeFor[*sessions.Result](), reflect.TypeFor[*sessions.Field](), reflect.TypeFor[*sessions.Info](),
		reflect.TypeFor[*sessions.Op](), reflect.TypeFor[*sessions.FieldOp]()} {
		for _, iface := range ifaces {
			if typ.Implements(iface) {
				t.Errorf("%s implements %s: msgpack no longer encodes it by its tags", typ, iface)
			}
		}
	}
	c := wiretest.FullCommand()
	cc := commandCodec()
	var sc wiretest.Command
	wiretest.Convert(t, &sc, c)
	want := wiretest.MustMarshal(t, &sc)
	if got := cc.Marshal(t, &c); !bytes.Equal(got, want) {
		t.Fatal("the codec differs from reflection over the shadow")
	}
	if got := wiretest.MustMarshal(t, c); !bytes.Equal(got, want) {
		t.Fatal("a Command value differs from reflection over the shadow")
	}
	same := func(a, b any) bool { return bytes.Equal(wiretest.MustMarshal(t, a), wiretest.MustMarshal(t, b)) }
	if !same(struct{ C sessions.Command }{c}, &struct{ C wiretest.Command }{sc}) {
		t.Fatal("a Command field of a struct passed by value differs from reflection")
	}
	if !same(&struct{ C sessions.Command }{c}, &struct{ C wiretest.Command }{sc}) {
		t.Fatal("a Command field of a struct passed by pointer differs from reflection")
	}
	if !same([]sessions.Command{c}, []wiretest.Command{sc}) {
		t.Fatal("a slice of commands differs from reflection")
	}
	if got := wiretest.MustMarshal(t, &c); !bytes.Equal(got, want) {
		t.Fatal("a *Command differs from reflection")
	}
	if got := cc.Marshal(t, nil); !bytes.Equal(got, []byte{0xc0}) {
		t.Fatalf("the codec encodes a nil *Command as %x, want nil", got)
	}
	if got := wiretest.MustMarshal(t, (*sessions.Command)(nil)); !bytes.Equal(got, []byte{0xc0}) {
		t.Fatalf("a nil *Command encodes as %x, want nil", got)
	}
	// nil on the wire: a zero value, or a nil pointer.
	if err := cc.Unmarshal([]byte{0xc0}, &c); err != nil || !reflect.DeepEqual(c, sessions.Command{}) {
		t.Fatalf("nil into a Command: %v, %+v", err, c)
	}
	p := &sessions.Command{Kind: sessions.KindEnd}
	if err := msgpack.Unmarshal([]byte{0xc0}, &p); err != nil || p != nil {
		t.Fatalf("nil into a *Command: %v, %+v", err, p)
	}
}

// alwaysChecker vouches for every signature.
type alwaysChecker struct{}

func (alwaysChecker) CheckMAC(sessions.ID, *sessions.MAC) bool { return true }

// A command whose signature nobody verified cannot leave the process; Settle verifies it.
func TestUnsettledCommandIsNotSent(t *testing.T) {
	cmd := sessions.Command{Kind: sessions.KindPGet, Tenant: sessions.TenantOf([]byte("a")),
		ID: wiretest.FullCommand().ID, Name: []byte("a"), Check: alwaysChecker{}}
	cc := commandCodec()
	if _, err := cc.TryMarshal(&cmd); err == nil {
		t.Fatal("an unsettled command was encoded")
	}
	if !cmd.Settle() || cmd.Check != nil {
		t.Fatal("Settle did not verify and drop the checker")
	}
	if _, err := cc.TryMarshal(&cmd); err != nil {
		t.Fatal(err)
	}
}

// TestCodecNilFields sends nil for each key in turn: every decoder reads the zero value.
func TestCodecNilFields(t *testing.T) {
	wiretest.CheckNilFieldsOf[sessions.Command, wiretest.Command](t, commandCodec())
	wiretest.CheckNilFieldsOf[sessions.Update, wiretest.Update](t, codec(wire.EncodeUpdate, wire.DecodeUpdate))
	wiretest.CheckNilFieldsOf[sessions.Result, wiretest.Result](t, resultCodec())
	wiretest.CheckNilFieldsOf[sessions.Field, wiretest.Field](t, codec(wire.EncodeField, wire.DecodeField))
	wiretest.CheckNilFieldsOf[sessions.Info, wiretest.Info](t, codec(wire.EncodeInfo, wire.DecodeInfo))
	wiretest.CheckNilFieldsOf[sessions.Op, wiretest.Op](t, opCodec())
	wiretest.CheckNilFieldsOf[sessions.FieldOp, wiretest.FieldOp](t, codec(wire.EncodeFieldOp, wire.DecodeFieldOp))
}

// TestCodecOwnsBytes checks that decoded slices survive the input being reused (frame buffers
// are recycled), as they do with reflection, and a second decode into the same value.
func TestCodecOwnsBytes(t *testing.T) {
	oc := opCodec()
	op := wiretest.FullOp()
	in := oc.Marshal(t, &op)
	var got sessions.Op
	if err := oc.Unmarshal(in, &got); err != nil {
		t.Fatal(err)
	}
	owner, field := got.Owner, got.Fields[0].Data
	for i := range in {
		in[i] = 0xff
	}
	if !reflect.DeepEqual(got, wiretest.AfterTrip(op)) {
		t.Fatalf("overwriting the input changed the decoded op: %+v", got)
	}
	var sh wiretest.Op
	wiretest.Convert(t, &sh, op)
	in = wiretest.MustMarshal(t, &sh)
	var rs wiretest.Op
	if err := msgpack.Unmarshal(in, &rs); err != nil {
		t.Fatal(err)
	}
	clear(in)
	if string(rs.Owner) != "owner" {
		t.Fatal("reflection aliases the input after all; the codec's copies are then stricter than before")
	}
	other := sessions.Op{Owner: []byte("other"),
		Fields: []sessions.FieldOp{{Name: []byte("x"), Data: []byte("yyy")}}}
	if err := oc.Unmarshal(oc.Marshal(t, &other), &got); err != nil {
		t.Fatal(err)
	}
	if string(owner) != "owner" || string(field) != "v" || got.Ended {
		t.Fatalf("a second decode wrote into the first one's slices or kept its fields: %q %q %+v",
			owner, field, got)
	}
}

// TestCodecRefusesBadInput feeds truncated, mistyped and oversized input: an error every time,
// and no allocation sized by a length the input cannot back.
func TestCodecRefusesBadInput(t *testing.T) {
	cc := commandCodec()
	c := wiretest.FullCommand()
	full := cc.Marshal(t, &c)
	for i := 0; i < len(full); i++ {
		var got sessions.Command
		if err := cc.Unmarshal(full[:i], &got); err == nil {
			t.Fatalf("a prefix of %d bytes of %d decoded", i, len(full))
		}
	}
	bad := map[string][]byte{
		"array for map":  {0x91, 0xc0},
		"ext for map":    {0xd4, 0x01, 0x00, 0x80},
		"string kind":    {0x81, 0xa1, 'k', 0xa1, 'x'},
		"int key":        {0x81, 0x01, 0x01},
		"short id":       append([]byte{0x81, 0xa1, 'i', 0xc4, 0x0f}, make([]byte, 15)...),
		"long tenant":    append([]byte{0x81, 0xa1, 't', 0xc4, 0x11}, make([]byte, 17)...),
		"huge id":        {0x81, 0xa1, 'i', 0xc6, 0xff, 0xff, 0xff, 0xff},
		"huge data":      {0x81, 0xa1, 'd', 0xc6, 0x7f, 0xff, 0xff, 0xff, 1, 2, 3},
		"huge key":       {0x81, 0xc6, 0x7f, 0xff, 0xff, 0xff, 'k'},
		"huge updates":   {0x81, 0xa1, 'u', 0xdd, 0x7f, 0xff, 0xff, 0xff, 0x80},
		"huge slots":     {0x81, 0xa2, 's', 'l', 0xdd, 0x7f, 0xff, 0xff, 0xff, 0x01},
		"huge map":       {0xdf, 0x7f, 0xff, 0xff, 0xff, 0xa1, 'k', 0x01},
		"float ttl":      {0x81, 0xa3, 't', 't', 'l', 0xcb, 0, 0, 0, 0, 0, 0, 0, 0},
		"bad update":     {0x81, 0xa1, 'u', 0x91, 0x81, 0xa1, 'n', 0x01},
		"unknown code":   {0x81, 0xa2, 'z', 'z', 0xc1},
		"truncated skip": {0x81, 0xa2, 'z', 'z', 0xc6, 0, 0, 1, 0},
		"huge bin skip":  {0x81, 0xa2, 'z', 'z', 0xc6, 0x7f, 0xff, 0xff, 0xff, 1, 2},
		"huge str skip":  {0x81, 0xa2, 'z', 'z', 0xdb, 0x7f, 0xff, 0xff, 0xff, 1, 2},
		"huge ext skip":  {0x81, 0xa2, 'z', 'z', 0xc9, 0x7f, 0xff, 0xff, 0xff, 1, 2},
		"deep skip":      append([]byte{0x81, 0xa2, 'z', 'z'}, bytes.Repeat([]byte{0x91}, 100_000)...),
	}
	for name, in := range bad {
		for _, stream := range []bool{false, true} {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			var got sessions.Command
			var err error
			if stream {
				err = cc.ReadStream(in, &got)
			} else {
				err = cc.Unmarshal(in, &got)
			}
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Errorf("%s (stream %v): decoded %+v", name, stream, got)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
				t.Errorf("%s (stream %v): allocated %d bytes", name, stream, grew)
			}
		}
	}
	var r sessions.Result
	err := resultCodec().Unmarshal([]byte{0x81, 0xa1, 's', 0xdd, 0x7f, 0xff, 0xff, 0xff}, &r)
	if err == nil || !strings.Contains(err.Error(), "exceeds the input") {
		t.Fatalf("an array longer than the input: %v, want a length error", err)
	}
}

func FuzzCommandCodec(f *testing.F) {
	wiretest.FuzzCodecOf[sessions.Command, wiretest.Command](f, commandCodec(),
		sessions.Command{}, wiretest.FullCommand(), sessions.Command{Kind: sessions.KindPGet, Name: []byte("v")})
}

func FuzzResultCodec(f *testing.F) {
	wiretest.FuzzCodecOf[sessions.Result, wiretest.Result](f, resultCodec(),
		sessions.Result{}, wiretest.FullResult(), sessions.Result{Data: []byte("payload")})
}

func FuzzOpCodec(f *testing.F) {
	wiretest.FuzzCodecOf[sessions.Op, wiretest.Op](f, opCodec(), sessions.Op{}, wiretest.FullOp(), sessions.Op{Ended: true, Forget: 1})
}

// TestCodecPooledDecoderStaysSmall decodes the same tiny frame with a truncated long unknown
// value many times through msgpack's pooled decoders, as the replication server does. The
// decoder's own Skip (which reflection uses) grows a pooled decoder's buffer by a megabyte or
// more on each such frame, to gigabytes; the codecs' SkipValue must not.
func TestCodecPooledDecoderStaysSmall(t *testing.T) {
	in := []byte{0x81, 0xa2, 'z', 'z', 0xc6, 0x7f, 0xff, 0xff, 0xff, 1, 2}
	cc := commandCodec()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < 500; i++ {
		var c sessions.Command
		if err := cc.Unmarshal(in, &c); err == nil {
			t.Fatal("decoded a truncated frame")
		}
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
		t.Fatalf("500 tiny frames allocated %d MB", grew>>20)
	}
}

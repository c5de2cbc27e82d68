package wiretest

import (
	"bytes"
	"math"

	"github.com/sessiongate/sessiongate/sessions"
)

// FullInfo is a session description with every field set; seed varies the id.
func FullInfo(seed byte) sessions.Info {
	return sessions.Info{ID: sessions.ID(bytes.Repeat([]byte{'a' + seed}, sessions.IDLen)),
		Owner: []byte("owner"), IP: []byte("10.1.2.3"), UA: []byte("Mozilla/5.0"),
		Created: 1_700_000_000, LastSeen: -1_700_000_000_123, TTL: -5,
		IdleTimeout: 900, Reads: 7, Writes: math.MaxUint32, Payloads: 3}
}

// FullCommand is a command with every field set.
func FullCommand() sessions.Command {
	return sessions.Command{Kind: sessions.KindStart, Tenant: sessions.TenantOf([]byte("key")),
		ID: sessions.ID([]byte("abcdefghijklmnop")), NewID: sessions.ID([]byte("ABCDEFGHIJKLMNOP")),
		NewMAC: sessions.MAC([]byte("0123456789abcdef0123456789ABCDEF")),
		TTL:    3600, Name: []byte("name"), Data: []byte("data"), Owner: []byte("owner"), IP: []byte("::1"),
		UA: []byte("curl"), Idle: 30, MaxSessions: 5, Evict: true,
		Updates: []sessions.Update{
			{Name: []byte("a"), Data: []byte("1"), Delete: true},
			{Name: []byte("b"), Data: []byte("2"), Delete: true},
		},
		Seconds: 60, Limit: -1, Slots: []uint16{0, 127, 128, 300, math.MaxUint16}}
}

// FullResult is a result with every field set, nested ones included.
func FullResult() sessions.Result {
	info := FullInfo(1)
	return sessions.Result{Int: -42, Data: []byte("data"), Info: &info,
		Fields: []sessions.Field{
			{Name: []byte("n1"), Data: []byte("d1")},
			{Name: []byte("n2"), Data: []byte("d2")},
		},
		Sessions: []sessions.Info{FullInfo(2), FullInfo(3)},
		Ops:      []sessions.Op{FullOp()}} // never sent
}

// FullOp is an op with every field set, nested ones included.
func FullOp() sessions.Op {
	return sessions.Op{ID: sessions.ID([]byte("abcdefghijklmnop")), Tenant: sessions.TenantOf([]byte("key")),
		Ended: true, Forget: math.MinInt64, Next: sessions.ID([]byte("ponmlkjihgfedcba")), Deadline: 1_700_000_000_000,
		MAC: sessions.MAC([]byte("fedcba9876543210fedcba9876543210")), HVer: math.MaxUint64,
		LastSeen: 1, Created: 2, Idle: 3, Reads: 4, Writes: 5,
		Owner: []byte("owner"), IP: []byte("ip"), UA: []byte("ua"),
		Fields: []sessions.FieldOp{
			{Name: []byte("f"), Ver: 1 << 40, Data: []byte("v")},
			{Name: []byte("g"), Ver: 9, Data: []byte("w")},
		}}
}

// BigCommand takes every length and integer of a command to the widest encodings.
func BigCommand() sessions.Command {
	c := FullCommand()
	c.Kind, c.TTL, c.Seconds, c.Idle = 255, math.MinInt64, math.MaxInt64, math.MaxUint32
	c.MaxSessions, c.Limit = math.MaxInt, math.MinInt
	c.Name, c.Data, c.Owner = bytes.Repeat([]byte("n"), 300), make([]byte, 70_000), make([]byte, 255)
	c.Updates = make([]sessions.Update, 20)
	c.Slots = make([]uint16, 70_000)
	for i := range c.Slots {
		c.Slots[i] = uint16(i)
	}
	return c
}

// BigResult takes a result's lengths and integer to the wider encodings.
func BigResult() sessions.Result {
	r := FullResult()
	r.Int, r.Data = math.MinInt64, make([]byte, 1<<16)
	r.Fields, r.Sessions = make([]sessions.Field, 16), make([]sessions.Info, 17)
	return r
}

// BigOp is an op with more fields than an array16 holds.
func BigOp() sessions.Op {
	o := FullOp()
	o.Fields = make([]sessions.FieldOp, 1<<16)
	return o
}

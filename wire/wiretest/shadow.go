// Package wiretest helps test msgpack codecs (wire's, node's messages') against msgpack's
// reflection: shadow copies of the wire types that reflection encodes, and generic checks that
// a codec and reflection write the same bytes and read each other's. Tests only.
package wiretest

import "github.com/sessiongate/sessiongate/sessions"

// The shadows are the wire format written down apart from sessions: the fields and tags of
// its types and no methods, so msgpack encodes them by reflection, the reference every codec
// must match. Convert checks that names and tags match the sessions types'.

// Command shadows sessions.Command.
type Command struct {
	Kind        sessions.Kind    `msgpack:"k"`
	Tenant      sessions.Tenant  `msgpack:"t"`
	ID          sessions.ID      `msgpack:"i"`
	NewID       sessions.ID      `msgpack:"n,omitempty"`
	NewMAC      sessions.MAC     `msgpack:"nc,omitempty"`
	TTL         int64            `msgpack:"ttl,omitempty"`
	Name        []byte           `msgpack:"nm,omitempty"`
	Data        []byte           `msgpack:"d,omitempty"`
	Owner       []byte           `msgpack:"o,omitempty"`
	IP          []byte           `msgpack:"ip,omitempty"`
	UA          []byte           `msgpack:"ua,omitempty"`
	Idle        uint32           `msgpack:"id,omitempty"`
	MaxSessions int              `msgpack:"mx,omitempty"`
	Evict       bool             `msgpack:"ev,omitempty"`
	Updates     []Update         `msgpack:"u,omitempty"`
	Seconds     int64            `msgpack:"s,omitempty"`
	Limit       int              `msgpack:"l,omitempty"`
	Slots       []uint16         `msgpack:"sl,omitempty"`
	At          int64            `msgpack:"-"`
	MAC         sessions.MAC     `msgpack:"-"`
	Check       sessions.Checker `msgpack:"-"`
}

// Update shadows sessions.Update.
type Update struct {
	Name   []byte `msgpack:"n"`
	Data   []byte `msgpack:"d,omitempty"`
	Delete bool   `msgpack:"x,omitempty"`
}

// Result shadows sessions.Result.
type Result struct {
	Int      int64   `msgpack:"n,omitempty"`
	Data     []byte  `msgpack:"d,omitempty"`
	Info     *Info   `msgpack:"i,omitempty"`
	Fields   []Field `msgpack:"f,omitempty"`
	Sessions []Info  `msgpack:"s,omitempty"`
	Ops      []Op    `msgpack:"-"`
}

// Field shadows sessions.Field.
type Field struct {
	Name []byte `msgpack:"n"`
	Data []byte `msgpack:"d"`
}

// Info shadows sessions.Info.
type Info struct {
	ID          sessions.ID `msgpack:"i"`
	Owner       []byte      `msgpack:"o,omitempty"`
	IP          []byte      `msgpack:"ip,omitempty"`
	UA          []byte      `msgpack:"ua,omitempty"`
	Created     int64       `msgpack:"c"`
	LastSeen    int64       `msgpack:"ls"`
	TTL         int64       `msgpack:"t"`
	IdleTimeout uint32      `msgpack:"it,omitempty"`
	Reads       uint32      `msgpack:"r"`
	Writes      uint32      `msgpack:"w"`
	Payloads    int         `msgpack:"p"`
}

// Op shadows sessions.Op.
type Op struct {
	ID       sessions.ID     `msgpack:"i"`
	Tenant   sessions.Tenant `msgpack:"t"`
	Ended    bool            `msgpack:"e,omitempty"`
	Forget   int64           `msgpack:"f,omitempty"`
	Next     sessions.ID     `msgpack:"nx,omitempty"`
	Deadline int64           `msgpack:"dl,omitempty"`
	MAC      sessions.MAC    `msgpack:"mc,omitempty"`
	HVer     uint64          `msgpack:"hv,omitempty"`
	LastSeen int64           `msgpack:"ls,omitempty"`
	Created  uint32          `msgpack:"c,omitempty"`
	Idle     uint32          `msgpack:"id,omitempty"`
	Reads    uint32          `msgpack:"r,omitempty"`
	Writes   uint32          `msgpack:"w,omitempty"`
	Owner    []byte          `msgpack:"o,omitempty"`
	IP       []byte          `msgpack:"ip,omitempty"`
	UA       []byte          `msgpack:"ua,omitempty"`
	Fields   []FieldOp       `msgpack:"fs,omitempty"`
}

// FieldOp shadows sessions.FieldOp.
type FieldOp struct {
	Name []byte `msgpack:"n"`
	Ver  uint64 `msgpack:"v"`
	Data []byte `msgpack:"d,omitempty"`
}

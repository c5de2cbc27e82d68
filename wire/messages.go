package wire

import (
	"github.com/sessiongate/sessiongate/replication"
	"github.com/sessiongate/sessiongate/sessions"
)

// The node-to-node methods. Their numbers are the wire format: never renumber them.
const (
	Forward      replication.Method = iota + 1 // run a command as primary
	Scatter                                    // run a tenant-wide command over some slots
	Apply                                      // merge ops (replication, hand-off, repair)
	Pull                                       // full copy of one slot
	Fetch                                      // full copy of one session
	Digest                                     // digests of some slots
	ForwardBatch                               // run several commands as primary
	LeaseAsk                                   // a backup asks its primary for a read lease
	LeaseGrant                                 // a primary grants one, behind its copies
	Touch                                      // reads a backup answered from its copy
)

// CommandMsg is a command forwarded to its primary (Forward, Scatter).
type CommandMsg struct {
	Cmd  sessions.Command `msgpack:"c"`
	Hops int              `msgpack:"h"`
	// Via names the node the client sent the command to, when it forwards it itself: a
	// primary that finds it among the partition's backups answers with the write's ops
	// instead of sending it a copy .
	Via string `msgpack:"v,omitempty"`
	// Deadline is when the sender stops waiting, in unix milliseconds .
	Deadline int64 `msgpack:"dl,omitempty"`
}

// ResultMsg carries a command's result, or its error as a code: store errors keep their
// code and limit, cluster errors their text.
type ResultMsg struct {
	Result sessions.Result `msgpack:"r"`
	Code   sessions.Code   `msgpack:"c,omitempty"`
	Max    int             `msgpack:"m,omitempty"`
	Msg    string          `msgpack:"e,omitempty"`
	// Ops is what the command changed, for a Via node that is a backup: it applies them
	// before answering its client, and that is its copy.
	Ops []sessions.Op `msgpack:"o,omitempty"`
}

// OpsMsg carries ops: a copy to apply (Apply), a pulled slot or a fetched session.
type OpsMsg struct {
	Ops []sessions.Op `msgpack:"o"`
}

// PullMsg asks for a full copy of one slot (Pull).
type PullMsg struct {
	Slot int `msgpack:"s"`
}

// FetchMsg asks for a full copy of one session and its successors (Fetch).
type FetchMsg struct {
	ID sessions.ID `msgpack:"i"`
}

// DigestMsg asks for the digests of some slots, and carries them back (Digest).
type DigestMsg struct {
	Slots   []uint16 `msgpack:"s"`
	Digests []uint64 `msgpack:"d,omitempty"`
}

// BatchMsg is several commands forwarded to their primary in one message (ForwardBatch).
type BatchMsg struct {
	Cmds []sessions.Command `msgpack:"c"`
	Hops int                `msgpack:"h"`
	Via  string             `msgpack:"v,omitempty"` // as in CommandMsg
	// Deadline as in CommandMsg.
	Deadline int64 `msgpack:"dl,omitempty"`
}

// BatchResultMsg answers a BatchMsg, one result per command in order.
type BatchResultMsg struct {
	Results []ResultMsg `msgpack:"r"`
}

// LeaseMsg is a lease request (method LeaseAsk, backup to primary) or grant (LeaseGrant,
// primary to backup). Its msgpack tags are the wire format: never change them.
type LeaseMsg struct {
	From    string `msgpack:"f"`
	Version uint64 `msgpack:"v"`
	Nonce   uint64 `msgpack:"n"`
	// Dur is the promise a grant makes, in nanoseconds: the primary's ReadLease, which the
	// backup's own setting does not override.
	Dur int64 `msgpack:"d,omitempty"`
	// Missed is the backup's count of forwarded calls that failed, in a request.
	Missed uint64 `msgpack:"m,omitempty"`
}

// TouchMsg reports reads answered from a copy (method Touch): the ids end to end (16 bytes
// each, one bin rather than an array of them: cheaper to encode) and when each was read.
type TouchMsg struct {
	IDs []byte  `msgpack:"i"`
	At  []int64 `msgpack:"a"`
}

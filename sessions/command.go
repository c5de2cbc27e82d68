package sessions

import "fmt"

// Limits of a session's contents. Names and data keep the original module's limits.
const (
	MaxNameLen  = 200
	MaxDataLen  = 8_000_000
	MaxOwnerLen = 200
	MaxIPLen    = 100
	MaxUALen    = 1024
	// MaxTTL is the longest lifetime accepted, in seconds (100 years).
	MaxTTL = 100 * 365 * 24 * 3600
	// MaxActiveLimit bounds the reply of an ACTIVE listing.
	MaxActiveLimit = 100_000
)

// Command is one request to the store, already checked for everything that needs no state
// (arity, token format, signature). It travels between nodes, hence the msgpack tags.
type Command struct {
	Kind   Kind   `msgpack:"k"`
	Tenant Tenant `msgpack:"t"`
	ID     ID     `msgpack:"i"` // the session addressed; for Start, the new session's id
	NewID  ID     `msgpack:"n,omitempty"`
	// NewMAC is the signature of the id a START or ROTATE creates, kept in its record.
	NewMAC MAC    `msgpack:"nc,omitempty"`
	TTL    int64  `msgpack:"ttl,omitempty"` // seconds
	Name   []byte `msgpack:"nm,omitempty"`
	Data   []byte `msgpack:"d,omitempty"`
	Owner  []byte `msgpack:"o,omitempty"`
	IP     []byte `msgpack:"ip,omitempty"`
	UA     []byte `msgpack:"ua,omitempty"`
	// Idle is the idle timeout in seconds (Start, Idle).
	Idle uint32 `msgpack:"id,omitempty"`
	// MaxSessions > 0 limits the owner's live sessions at Start; Evict ends the oldest instead of refusing.
	MaxSessions int      `msgpack:"mx,omitempty"`
	Evict       bool     `msgpack:"ev,omitempty"`
	Updates     []Update `msgpack:"u,omitempty"`
	// Seconds is the activity window of Activity and Active.
	Seconds int64 `msgpack:"s,omitempty"`
	Limit   int   `msgpack:"l,omitempty"`
	// Slots restricts a scatter command to these slots (nil: all). Set by the cluster router.
	Slots []uint16 `msgpack:"sl,omitempty"`
	// At is the wall clock in unix ms as the front end read it for this command, so that a
	// pipeline's commands share a reading (Redis too reads its clock once per command, not per
	// expiry check); zero makes the store read its own clock. It never travels between nodes.
	At int64 `msgpack:"-"`
	// MAC is the raw signature of the token that addresses ID. It is checked against the
	// session's record when Check is set; a command without Check was verified by whoever
	// made it (a front end that checked the HMAC itself, or a peer that settled it).
	MAC   MAC     `msgpack:"-"`
	Check Checker `msgpack:"-"`
}

// Slot is the slot the command addresses: its owner's for owner-scoped commands, its
// session's otherwise.
func (cmd *Command) Slot() int {
	if cmd.Kind.IsOwnerScoped() {
		return OwnerSlot(cmd.Tenant, cmd.Owner)
	}
	return cmd.ID.Slot()
}

// Update is one step of an atomic PUPDATE: set Name to Data, or delete it when Delete is set.
type Update struct {
	Name   []byte `msgpack:"n"`
	Data   []byte `msgpack:"d,omitempty"`
	Delete bool   `msgpack:"x,omitempty"`
}

// Result is what a command returns. Ops are the changes to replicate; they never leave the
// primary inside a Result.
type Result struct {
	Int      int64   `msgpack:"n,omitempty"`
	Data     []byte  `msgpack:"d,omitempty"`
	Info     *Info   `msgpack:"i,omitempty"`
	Fields   []Field `msgpack:"f,omitempty"`
	Sessions []Info  `msgpack:"s,omitempty"`
	Ops      []Op    `msgpack:"-"`
}

// Field is one payload.
type Field struct {
	Name []byte `msgpack:"n"`
	Data []byte `msgpack:"d"`
}

// Info describes a session without its payloads.
type Info struct {
	ID          ID     `msgpack:"i"`
	Owner       []byte `msgpack:"o,omitempty"`
	IP          []byte `msgpack:"ip,omitempty"`
	UA          []byte `msgpack:"ua,omitempty"`
	Created     int64  `msgpack:"c"`  // unix seconds
	LastSeen    int64  `msgpack:"ls"` // unix milliseconds
	TTL         int64  `msgpack:"t"`  // milliseconds left until the effective deadline
	IdleTimeout uint32 `msgpack:"it,omitempty"`
	Reads       uint32 `msgpack:"r"`
	Writes      uint32 `msgpack:"w"`
	Payloads    int    `msgpack:"p"`
}

// Code identifies an error condition so it can cross the network and become a reply.
type Code uint8

// The error conditions the store reports, in the order the original module checks them.
const (
	CodeNoSession Code = iota + 1
	CodeWrongKey
	CodeNameEmpty
	CodeNameTooLong
	CodeDataEmpty
	CodeDataTooLong
	CodeNoPayload
	CodeOwnerLimit
	CodeBadCommand
	// CodeSignature: the token's signature is not the key's (reported by a store that
	// checked it for the front end, see Command.Check).
	CodeSignature
	// CodePayloadLimit: the write would take the session past Max payload names.
	CodePayloadLimit
	// CodeTooManySteps: a PUPDATE has more than Max steps.
	CodeTooManySteps
	// CodeOOM: the store's used memory is past its MaxMemory and the command would grow it.
	CodeOOM
)

// Error is a store error: a condition and, for CodeOwnerLimit, the limit.
type Error struct {
	Code Code
	Max  int
}

func (e *Error) Error() string {
	switch e.Code {
	case CodeNoSession:
		return "session does not exist"
	case CodeWrongKey:
		return "session was signed with another key"
	case CodeNameEmpty:
		return "payload name is empty"
	case CodeNameTooLong:
		return "payload name is too long"
	case CodeDataEmpty:
		return "payload data is empty"
	case CodeDataTooLong:
		return "payload data is too long"
	case CodeNoPayload:
		return "payload does not exist"
	case CodeOwnerLimit:
		return fmt.Sprintf("owner already has the maximum of %d sessions", e.Max)
	case CodeSignature:
		return "token signature is invalid"
	case CodePayloadLimit:
		return fmt.Sprintf("session already has the maximum of %d payloads", e.Max)
	case CodeTooManySteps:
		return fmt.Sprintf("update has more than the maximum of %d steps", e.Max)
	case CodeOOM:
		return "used memory is past maxmemory"
	}
	return fmt.Sprintf("bad command (code %d)", e.Code)
}

// Is matches errors by condition, so errors.Is(err, ErrOwnerLimit) holds whatever the limit.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// The store's errors, for errors.Is.
var (
	ErrNoSession   = &Error{Code: CodeNoSession}
	ErrWrongKey    = &Error{Code: CodeWrongKey}
	ErrNameEmpty   = &Error{Code: CodeNameEmpty}
	ErrNameTooLong = &Error{Code: CodeNameTooLong}
	ErrDataEmpty   = &Error{Code: CodeDataEmpty}
	ErrDataTooLong = &Error{Code: CodeDataTooLong}
	ErrNoPayload   = &Error{Code: CodeNoPayload}
	ErrOwnerLimit  = &Error{Code: CodeOwnerLimit}
	ErrBadCommand  = &Error{Code: CodeBadCommand}
	ErrSignature   = &Error{Code: CodeSignature}
	// ErrPayloadLimit and ErrTooManySteps carry the cap in Max when the store returns them.
	ErrPayloadLimit = &Error{Code: CodePayloadLimit}
	ErrTooManySteps = &Error{Code: CodeTooManySteps}
	ErrOOM          = &Error{Code: CodeOOM}
)

// CheckName applies the payload-name limits.
func CheckName(name []byte) error {
	if len(name) == 0 {
		return ErrNameEmpty
	}
	if len(name) > MaxNameLen {
		return ErrNameTooLong
	}
	return nil
}

// CheckData applies the payload-data limits.
func CheckData(data []byte) error {
	if len(data) == 0 {
		return ErrDataEmpty
	}
	if len(data) > MaxDataLen {
		return ErrDataTooLong
	}
	return nil
}

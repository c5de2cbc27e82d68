package sessions

import "strconv"

// Kind names a command the store executes.
type Kind uint8

// The commands. Start covers both START and CREATE (CREATE only adds options).
const (
	KindStart Kind = iota + 1
	KindExpire
	KindPSet
	KindPGet
	KindPDel
	KindEnd
	KindInfo
	KindPGetAll
	KindPUpdate
	KindTTL
	KindIdle
	KindRotate
	KindList
	KindEndOwner
	KindEndAll
	KindActivity
	KindActive
)

// Traits is what the rest of the system needs to know about a kind of command: how the
// cluster routes, replicates and retries it, and how front ends and metrics name it. Adding a
// command means adding its row to the table below, its case in the store, and its handlers.
type Traits struct {
	// Name is the command's lower-case name without its prefix ("pset"), for metrics and logs.
	Name string
	// Write: the command may change state, so its ops are replicated.
	Write bool
	// Scatter: the command spans every partition of a tenant (ENDALL, ACTIVITY, ACTIVE).
	Scatter bool
	// OwnerScoped: the command addresses an owner, not a token; it routes by the owner's slot.
	OwnerScoped bool
	// Read: the command changes nothing and its primary may answer it at once, without
	// waiting on any other node.
	Read bool
	// CopyRead: a backup holding a read lease may answer a hit from its own copy.
	CopyRead bool
	// Touches: a read that counts as the session being used (reads, last seen).
	Touches bool
	// Once: the command must not be sent again when its first attempt's fate is unknown (a
	// second START or ROTATE would issue a second token).
	Once bool
}

// traits is the command table, indexed by Kind. It is never written.
var traits = [...]Traits{
	KindStart:    {Name: "start", Write: true, Once: true},
	KindExpire:   {Name: "expire", Write: true},
	KindPSet:     {Name: "pset", Write: true},
	KindPGet:     {Name: "pget", Read: true, CopyRead: true, Touches: true},
	KindPDel:     {Name: "pdel", Write: true},
	KindEnd:      {Name: "end", Write: true},
	KindInfo:     {Name: "info", Read: true},
	KindPGetAll:  {Name: "pgetall", Read: true, CopyRead: true, Touches: true},
	KindPUpdate:  {Name: "pupdate", Write: true},
	KindTTL:      {Name: "ttl", Read: true, CopyRead: true},
	KindIdle:     {Name: "idle", Write: true},
	KindRotate:   {Name: "rotate", Write: true, Once: true},
	KindList:     {Name: "list", OwnerScoped: true},
	KindEndOwner: {Name: "endowner", Write: true, OwnerScoped: true},
	KindEndAll:   {Name: "endall", Write: true, Scatter: true},
	KindActivity: {Name: "activity", Scatter: true},
	KindActive:   {Name: "active", Scatter: true},
}

// Kinds lists every kind of command, in table order.
func Kinds() []Kind {
	out := make([]Kind, 0, len(traits)-1)
	for k := KindStart; int(k) < len(traits); k++ {
		out = append(out, k)
	}
	return out
}

// Traits returns k's row of the command table; an unknown kind has none set.
func (k Kind) Traits() Traits {
	if int(k) < len(traits) {
		return traits[k]
	}
	return Traits{}
}

// String is the kind's name, or "kind(N)" for an unknown one.
func (k Kind) String() string {
	if t := k.Traits(); t.Name != "" {
		return t.Name
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// IsWrite reports whether the command changes state (and so must be replicated).
func (k Kind) IsWrite() bool { return k.Traits().Write }

// IsScatter reports whether the command spans every partition of a tenant.
func (k Kind) IsScatter() bool { return k.Traits().Scatter }

// IsOwnerScoped reports whether the command addresses an owner rather than a token.
func (k Kind) IsOwnerScoped() bool { return k.Traits().OwnerScoped }

// Touches reports whether a read of kind k counts as the session being used.
func Touches(k Kind) bool { return k.Traits().Touches }

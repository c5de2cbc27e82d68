package replica

import (
	"slices"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/sessions"
)

// Group commit. The commands of a pipeline (or of a forwarded batch) whose partitions this
// node is primary of run on the store one after another, and their writes are replicated
// together: each backup gets one message with every op it must apply and answers it once.
// Run one by one, each write would wait for its own copies, and a pipeline of sixteen writes
// would cost every backup sixteen messages and acknowledgements.
//
// Nothing is answered before the whole group is replicated: the replies of a batch go out
// together. A command after a write on the same session sees that write; if the replication
// then fails, the write stands here (Outcome's rule) and only the write reports the failure.

// Group gathers the writes of commands run one after another, to replicate as one Flight.
type Group struct {
	parts  []Part
	partOf map[int]int // partition -> index in parts
	writes []groupWrite
	f      *Flight // nil until started, and when nothing was written
}

// groupWrite is a command of a group that changed something, and its outcome on the store.
type groupWrite struct {
	i, part int // index of the command, and of its partition in parts
	res     sessions.Result
	err     error
}

// Add takes command i's outcome on the store, as primary of partition p, and reports whether
// it is a write the group replicates; a command that wrote nothing has its final outcome.
// carrier is as in Part.
func (g *Group) Add(i, p int, res sessions.Result, err error, carrier string) bool {
	if len(res.Ops) == 0 {
		return false
	}
	if g.partOf == nil {
		g.partOf = map[int]int{}
	}
	k, ok := g.partOf[p]
	if !ok {
		k = len(g.parts)
		g.partOf[p] = k
		g.parts = append(g.parts, Part{P: p, Carrier: carrier})
	}
	g.parts[k].Ops = append(g.parts[k].Ops, res.Ops...)
	g.writes = append(g.writes, groupWrite{i: i, part: k, res: res, err: err})
	return true
}

// Writes is the number of commands of the group that wrote.
func (g *Group) Writes() int { return len(g.writes) }

// StartGroup sends the copies of g's writes (Start); g's Flight is nil when none wrote.
func (r *Replicator) StartGroup(v View, g *Group) *Flight {
	if len(g.parts) > 0 {
		g.f = r.Start(v, g.parts)
	}
	return g.f
}

// Finish sets the outcomes of g's writes in out from their replication's, once the flight is
// done or waited for.
func (g *Group) Finish(out []api.Outcome) {
	for _, w := range g.writes {
		var rerr error
		carrier := ""
		if g.f != nil {
			rerr, carrier = g.f.Err(w.part), g.f.Carrier(w.part)
		}
		out[w.i].Result, out[w.i].Err = Outcome(w.res, w.err, rerr, carrier)
	}
}

// Outcome is a write's outcome once its ops were replicated with the error rerr. Only a
// carrier gets the ops back.
func Outcome(res sessions.Result, err, rerr error, carrier string) (sessions.Result, error) {
	if carrier == "" {
		res.Ops = nil
	}
	if rerr != nil {
		// The carrier applies the ops even so: the write stands here, and a retry that
		// finds nothing left to change (a second END) would carry none.
		return sessions.Result{Ops: res.Ops}, rerr
	}
	return res, err
}

// A write that a backup forwards to its primary comes back with its ops, and the backup applies
// them before it answers its client: that answer is its copy. The primary counts the backup as
// acknowledged without sending it a copy or waiting for it (its client cannot hear of the write
// before the backup applied it), which saves the forwarding node a copy and an acknowledgement per
// write: half the messages it handles for one.
//
// What it needs in return: a backup whose forwarded call fails (a timeout, a lost connection) may
// lack a write the primary made, and nobody else knows. It drops its read lease from that primary
// at once, ignores grants to requests it made before, and counts the miss; its next lease request
// carries the count, and a primary that sees it change grants no lease until an anti-entropy round
// that started afterwards found the backup in sync (Replicator.Missed). Without that, a retried
// END that finds nothing left to end would leave the session readable there.

// Carrier is via when it is a backup of partition p in v, other than self: the node that
// gets a forwarded write's ops in its answer instead of a copy. Otherwise it is "".
func Carrier(v View, p int, self, via string) string {
	if via == "" || via == self || !slices.Contains(v.Replicas(p)[1:], via) {
		return ""
	}
	return via
}

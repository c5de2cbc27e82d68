package node

import (
	"time"

	"github.com/sessiongate/sessiongate/sessions"
	"github.com/sessiongate/sessiongate/wire"
)

// Read leases (package replica) let a backup answer reads from its own copy instead of
// forwarding them to the primary, without reads going back in time while the cluster is
// steady.
//
// What a backup answers from its copy: PGET, PGETALL and TTL hits on sessions without an idle
// timeout; misses, errors and everything else go to the primary. The reads it answers are sent
// to the primary in batches (touches), which keeps read counts and last-seen times there.

// The lease messages, on the wire as wire.LeaseAsk, wire.LeaseGrant and wire.Touch.
type (
	leaseMsg = wire.LeaseMsg
	touchMsg = wire.TouchMsg
)

// leasesHeld is the number of primaries whose leases this node holds now, for INFO.
func (c *cluster) leasesHeld() int {
	v := c.view.Load()
	n := 0
	for name := range v.members {
		if c.repl.Holds(name, v.ring.Version()) {
			n++
		}
	}
	return n
}

// copyRead answers cmd from this node's copy when it holds a lease from the partition's
// primary and the copy has the answer.
func (c *cluster) copyRead(v *view, p int, primary string, cmd *sessions.Command) (sessions.Result, bool) {
	return c.copyReadAt(v, p, primary, cmd, time.Now())
}

// copyReadAt is copyRead with the clock read at now: a pipeline's reads share one reading
// (readNow also hands it to the store, as Command.At).
func (c *cluster) copyReadAt(v *view, p int, primary string, cmd *sessions.Command, now time.Time) (sessions.Result, bool) {
	if !c.copyReadableAt(v, p, primary, cmd, now) {
		return sessions.Result{}, false
	}
	res, ok := c.n.store.ReadCopy(cmd)
	if !ok {
		return res, false
	}
	c.n.stats.CopyReads.Add(1)
	if sessions.Touches(cmd.Kind) {
		c.repl.Touch(primary, cmd.ID, now.UnixMilli())
	}
	return res, true
}

// copyReadable reports whether cmd may be tried on this node's copy of partition p.
func (c *cluster) copyReadable(v *view, p int, primary string, cmd *sessions.Command) bool {
	return c.copyReadableAt(v, p, primary, cmd, time.Now())
}

// copyReadableAt is copyReadable with the clock read at now.
func (c *cluster) copyReadableAt(v *view, p int, primary string, cmd *sessions.Command, now time.Time) bool {
	switch cmd.Kind {
	case sessions.KindPGet, sessions.KindPGetAll, sessions.KindTTL:
	default:
		return false
	}
	return c.repl.Readable(v, p, primary, now)
}

package node

import (
	"time"

	"github.com/sessiongate/sessiongate/mover"
)

// A node frozen for longer than failure detection (package stall) serves as primary at once
// when it wakes, while the others had declared it dead and another node had taken writes for
// its partitions. So every partition it is primary of is gated and pulled again from every
// live member before it serves.

// stallTick is how often the watchdog notes that the process is running.
const stallTick = 100 * time.Millisecond

// checkStall notes that the process runs now and reports whether it had stalled since the
// last note; the first caller to see a stall starts the re-sync.
func (c *cluster) checkStall() bool {
	stalled, first, gap := c.watch.Check()
	if first {
		c.log.Warn("this node did not run for a while; re-syncing the partitions it is primary of", "stalled", gap.Round(time.Millisecond))
		c.resyncPrimaries()
	}
	return stalled
}

// resyncPrimaries gates every partition this node is primary of until it has pulled it
// from every other live member: whoever stood in for it meanwhile may hold newer writes.
func (c *cluster) resyncPrimaries() {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.views.Load()
	syncs := mover.Resync(c.cfg.Name, v.Ring(), v.Names())
	if len(syncs) == 0 {
		return
	}
	nv := v.Resynced(time.Now()) // misses ask the replicas again for a while
	c.mover.Start(nv, gate(nv, syncs))
	c.views.Store(nv)
}

package node

import (
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/sessions"
)

// A pipeline of reads that a backup answers from its copy runs on the caller's goroutine and
// allocates only the outcomes: no forwarding, no goroutine, no deadline, no routing tables.
func TestPipelinedCopyReadsAllocateOnlyTheirOutcomes(t *testing.T) {
	nodes := startCluster(t, 3, withReplicaReads(100*time.Millisecond))
	ids := writeSessions(t, nodes, 40)
	waitLeases(t, nodes)
	via := nodes[0]
	var cmds []*sessions.Command
	for _, id := range ids {
		if primaryOf(via, id) != via.name && len(cmds) < 16 {
			cmds = append(cmds, &sessions.Command{Kind: sessions.KindPGet, Tenant: testTenant, ID: id, Name: []byte("v")})
		}
	}
	if len(cmds) < 8 {
		t.Fatalf("only %d of 40 sessions have another primary", len(cmds))
	}
	forwarded, copies := via.n.stats.Forwarded.Load(), via.n.stats.CopyReads.Load()
	const runs, tries = 40, 5
	ctx := ctxT(t)
	// AllocsPerRun counts every goroutine's allocations, and three nodes gossip, renew leases
	// and report reads meanwhile (under -race slowly enough to add one per run): take the
	// least of several measurements, since those only ever add.
	allocs := float64(1 << 20)
	for range tries {
		allocs = min(allocs, testing.AllocsPerRun(runs, func() {
			for i, o := range doBatch(ctx, via.n, cmds) {
				if o.Err != nil || string(o.Result.Data) != cmds[i].ID.String() {
					t.Fatalf("read %d: %q, %v", i, o.Result.Data, o.Err)
				}
			}
		}))
	}
	if got := via.n.stats.Forwarded.Load() - forwarded; got != 0 {
		t.Fatalf("%d reads were forwarded: the leases lapsed and the test proves nothing", got)
	}
	if got, want := via.n.stats.CopyReads.Load()-copies, uint64(tries*(runs+1)*len(cmds)); got != want {
		t.Fatalf("%d reads answered from the copy, want %d", got, want)
	}
	for i, cmd := range cmds {
		if cmd.At != 0 {
			t.Fatalf("read %d: the caller's command was left with the batch's clock reading", i)
		}
	}
	if _, err := via.n.Do(ctx, cmds[0]); err != nil || cmds[0].At != 0 {
		t.Fatalf("a lone copy read: %v, the command's clock reading left at %d", err, cmds[0].At)
	}
	if allocs > 1 {
		t.Fatalf("%.0f allocations per pipeline of %d copy reads, want 1 (the outcomes)", allocs, len(cmds))
	}
}

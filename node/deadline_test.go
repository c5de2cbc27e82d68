package node

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/sessions"
)

// A forwarded command that reaches its primary after its sender gave up is not run: the
// client was told the outcome is unknown, and a write run now would be stamped now.
func TestAForwardedCommandPastItsDeadlineIsNotRun(t *testing.T) {
	skew := func(c *ClusterConfig) { c.ClockSkew = 20 * time.Millisecond }
	nodes := startCluster(t, 3, skew)
	id := writeSessions(t, nodes, 1)[0]
	primary, backups := roles(t, nodes, id)
	via := backups[0]
	via.faults.Delay(primary.repl, 300*time.Millisecond) // the request leaves 300 ms late
	t.Cleanup(via.faults.Heal)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := via.n.Do(ctx, &sessions.Command{Kind: sessions.KindEnd, Tenant: testTenant, ID: id}); err == nil {
		t.Fatal("the END succeeded though its sender gave up after 50 ms and the primary got it at 300 ms")
	}
	time.Sleep(time.Second) // the request has long arrived
	via.faults.Heal()
	if primary.n.store.Ended(id) {
		t.Fatal("the primary ran an END that arrived 250 ms after its sender gave up")
	}
	// In time, the same command runs.
	if _, err := doRetry(t, via.n, sessions.Command{Kind: sessions.KindEnd, Tenant: testTenant, ID: id}); err != nil {
		t.Fatal(err)
	}
	if !primary.n.store.Ended(id) {
		t.Fatal("the END in time did not run")
	}
}

func TestOverdue(t *testing.T) {
	c := &cluster{cfg: ClusterConfig{ClockSkew: time.Second}}
	now := time.Now().UnixMilli()
	for _, tc := range []struct {
		deadline int64
		skew     time.Duration
		late     bool
	}{
		{0, time.Second, false},          // no deadline sent (an older peer)
		{now + 1000, time.Second, false}, // in time
		{now - 500, time.Second, false},  // within the clock skew
		{now - 5000, time.Second, true},  // long past
		{now - 5000, -1, false},          // refusal turned off
	} {
		c.cfg.ClockSkew = tc.skew
		if err := c.overdue(tc.deadline); (err != nil) != tc.late {
			t.Errorf("deadline now%+dms, skew %v: %v, want late %v", tc.deadline-now, tc.skew, err, tc.late)
		}
	}
}

// A command whose context has ended is not run, even when nothing made it wait: its sender
// has stopped waiting, and it would land after whatever the client did next.
func TestExecuteRunsNothingPastItsContext(t *testing.T) {
	nodes := startCluster(t, 1)
	id := writeSessions(t, nodes, 1)[0]
	c := nodes[0].n.cluster
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	v := c.views.Load()
	for i := range 20 { // the partition is ready too: a select between the two may pick either
		cmd := sessions.Command{Kind: sessions.KindPSet, Tenant: testTenant, ID: id, Name: []byte("v"), Data: []byte{byte('a' + i)}}
		_, err := c.execute(ctx, v, v.Ring().PartitionOfSlot(id.Slot()), &cmd, "")
		if err == nil || !strings.Contains(err.Error(), "timed out before it ran") {
			t.Fatalf("attempt %d: a PSET with its context ended: %v", i, err)
		}
	}
	if got := pget(t, nodes[0], id); got != id.String() {
		t.Fatalf("the payload is %q after PSETs that should not have run", got)
	}
}

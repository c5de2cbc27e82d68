package node

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/quorum"
	"github.com/sessiongate/sessiongate/replication"
	"github.com/sessiongate/sessiongate/sessions"
	"github.com/sessiongate/sessiongate/wire"
)

// copyCounter counts the copy requests (wire.Apply) a node sends, by destination, by
// reading the frames off its replication connections.
type copyCounter struct {
	mu     sync.Mutex
	copies map[string]int
}

func (cc *copyCounter) get(addr string) int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.copies[addr]
}

// counting wraps the node's dialer.
func (cc *copyCounter) counting() nodeOpt {
	return func(c *ClusterConfig) {
		inner := c.Dial
		c.Dial = func(network, addr string) (net.Conn, error) {
			conn, err := inner(network, addr)
			if err != nil {
				return nil, err
			}
			return &framesOut{Conn: conn, cc: cc, addr: addr}, nil
		}
	}
}

type framesOut struct {
	net.Conn
	cc      *copyCounter
	addr    string
	pending []byte // the start of a frame whose header is not complete yet
	skip    int    // bytes of the current frame still to pass
	started bool   // a write went out
}

func (f *framesOut) Write(p []byte) (int, error) {
	// A secured link's handshake hello goes out in one write before any frame.
	if f.started || !bytes.HasPrefix(p, []byte("SGR1")) {
		f.scan(p)
	}
	f.started = true
	return f.Conn.Write(p)
}

// scan follows the frame layout: length u32 (of what follows), id u64, kind u8, method u8.
func (f *framesOut) scan(p []byte) {
	for len(p) > 0 {
		if f.skip > 0 {
			n := min(f.skip, len(p))
			f.skip -= n
			p = p[n:]
			continue
		}
		need := 14 - len(f.pending)
		n := min(need, len(p))
		f.pending = append(f.pending, p[:n]...)
		p = p[n:]
		if len(f.pending) < 14 {
			return
		}
		if f.pending[12] == 1 && replication.Method(f.pending[13]) == wire.Apply {
			f.cc.mu.Lock()
			f.cc.copies[f.addr]++
			f.cc.mu.Unlock()
		}
		f.skip = int(binary.BigEndian.Uint32(f.pending[:4])) - 10
		f.pending = f.pending[:0]
	}
}

// startCountedCluster starts three nodes that count the copies they send, with anti-entropy
// (which sends copies too) out of the way.
func startCountedCluster(t *testing.T) ([]*testNode, []*copyCounter) {
	var nodes []*testNode
	var counters []*copyCounter
	for i := 0; i < 3; i++ {
		cc := &copyCounter{copies: map[string]int{}}
		var seeds []string
		if i > 0 {
			seeds = []string{nodes[0].gossip}
		}
		nodes = append(nodes, startNode(t, fmt.Sprintf("n%d", i), seeds, withAntiEntropy(time.Hour), cc.counting()))
		counters = append(counters, cc)
	}
	waitMembers(t, nodes, 3)
	waitSettled(t, nodes)
	return nodes, counters
}

// sessionsOf returns ids of sessions (already written) whose primary is tn.
func sessionsOf(t *testing.T, nodes []*testNode, tn *testNode, n int) []sessions.ID {
	t.Helper()
	var out []sessions.ID
	for len(out) < n {
		for _, id := range writeSessions(t, nodes, 3*n) {
			if primaryOf(tn, id) == tn.name && len(out) < n {
				out = append(out, id)
			}
		}
	}
	return out
}

func psets(ids []sessions.ID, val string) []*sessions.Command {
	var cmds []*sessions.Command
	for i, id := range ids {
		cmds = append(cmds, &sessions.Command{Kind: sessions.KindPSet, Tenant: testTenant, ID: id, Name: []byte("v"), Data: []byte(fmt.Sprint(val, i))})
	}
	return cmds
}

// A pipeline of writes on partitions of one primary costs each backup one copy, and every
// write is on every backup when the pipeline's answers come.
func TestGroupedWritesOneCopyPerBackup(t *testing.T) {
	nodes, counters := startCountedCluster(t)
	a := nodes[0]
	ids := sessionsOf(t, nodes, a, 8)
	cmds := append(psets(ids, "g"),
		&sessions.Command{Kind: sessions.KindPGet, Tenant: testTenant, ID: ids[3], Name: []byte("v")})
	before := map[string]int{}
	for _, tn := range nodes[1:] {
		before[tn.repl] = counters[0].get(tn.repl)
	}
	grouped := a.n.Stats().Grouped.Load()
	out := doBatch(ctxT(t), a.n, cmds)
	for i, o := range out {
		if o.Err != nil {
			t.Fatalf("command %d: %v", i, o.Err)
		}
	}
	if got := string(out[len(ids)].Result.Data); got != "g3" {
		t.Fatalf("PGET after the PSET in the same pipeline = %q, want g3", got)
	}
	if got := a.n.Stats().Grouped.Load() - grouped; got != uint64(len(ids)) {
		t.Errorf("%d writes grouped, want %d", got, len(ids))
	}
	for _, tn := range nodes[1:] {
		if got := counters[0].get(tn.repl) - before[tn.repl]; got != 1 {
			t.Errorf("%s got %d copies for a pipeline of %d writes, want 1", tn.name, got, len(ids))
		}
		// Majority acks: one backup may still be applying when the answers come.
		eventually(t, 5*time.Second, tn.name+" holding every write", func() bool { return holds(tn, ids, "g") })
	}
}

// holds reports whether tn's own store has the payload val<i> in every session i.
func holds(tn *testNode, ids []sessions.ID, val string) bool {
	for i, id := range ids {
		res, err := tn.n.store.Do(&sessions.Command{Kind: sessions.KindPGet, Tenant: testTenant, ID: id, Name: []byte("v")})
		if err != nil || string(res.Data) != fmt.Sprint(val, i) {
			return false
		}
	}
	return true
}

// A batch forwarded by a backup runs as a group on the primary: the forwarder gets the ops in
// the answers (no copy), the other backup one copy for the batch.
func TestGroupedForwardedBatchCarriesOps(t *testing.T) {
	nodes, counters := startCountedCluster(t)
	a, b, c := nodes[0], nodes[1], nodes[2]
	ids := sessionsOf(t, nodes, a, 6)
	toB, toC := counters[0].get(b.repl), counters[0].get(c.repl)
	grouped, carried := a.n.Stats().Grouped.Load(), b.n.Stats().Carried.Load()
	out := doBatch(ctxT(t), b.n, psets(ids, "f"))
	for i, o := range out {
		if o.Err != nil {
			t.Fatalf("command %d: %v", i, o.Err)
		}
	}
	if got := a.n.Stats().Grouped.Load() - grouped; got != uint64(len(ids)) {
		t.Errorf("the primary grouped %d writes, want %d", got, len(ids))
	}
	if got := b.n.Stats().Carried.Load() - carried; got != uint64(len(ids)) {
		t.Errorf("the forwarder applied %d carried ops, want %d", got, len(ids))
	}
	if got := counters[0].get(b.repl) - toB; got != 0 {
		t.Errorf("the forwarder got %d copies besides its answers, want 0", got)
	}
	if got := counters[0].get(c.repl) - toC; got != 1 {
		t.Errorf("the other backup got %d copies, want 1", got)
	}
	if !holds(b, ids, "f") {
		t.Fatal("the forwarder answered before it held the writes it carried")
	}
	eventually(t, 5*time.Second, "the other backup holding every write", func() bool { return holds(c, ids, "f") })
}

// When a group cannot reach enough backups, every write in it says so, and each stands on
// the primary (as a single write's would).
func TestGroupedWritesFailTogether(t *testing.T) {
	nodes := startCluster(t, 3, withAcks(quorum.AcksAll), withAntiEntropy(time.Hour))
	a := nodes[0]
	ids := sessionsOf(t, nodes, a, 4)
	a.faults.Block(nodes[2].repl)
	grouped := a.n.Stats().Grouped.Load()
	out := doBatch(ctxT(t), a.n, psets(ids, "x"))
	for i, o := range out {
		if !errors.Is(o.Err, api.ErrTryAgain) {
			t.Fatalf("write %d with a backup cut off and acks=all: %v, want TRYAGAIN", i, o.Err)
		}
	}
	if got := a.n.Stats().Grouped.Load() - grouped; got != uint64(len(ids)) {
		t.Errorf("%d writes grouped, want %d", got, len(ids))
	}
	if !holds(a, ids, "x") {
		t.Fatal("a write whose replication failed does not stand on the primary")
	}
}

// What is not plain runs command by command: a pipeline with a ROTATE is not grouped, and
// still answers in order.
func TestRotateIsNotGrouped(t *testing.T) {
	nodes := startCluster(t, 3, withAntiEntropy(time.Hour))
	a := nodes[0]
	ids := sessionsOf(t, nodes, a, 3)
	cmds := psets(ids, "r")
	cmds = append(cmds, &sessions.Command{Kind: sessions.KindRotate, Tenant: testTenant, ID: ids[0], NewID: newID(t, ids[0].Slot())})
	grouped := a.n.Stats().Grouped.Load()
	out := doBatch(ctxT(t), a.n, cmds)
	for i, o := range out {
		if o.Err != nil {
			t.Fatalf("command %d: %v", i, o.Err)
		}
	}
	if got := a.n.Stats().Grouped.Load() - grouped; got != 0 {
		t.Errorf("%d writes grouped in a pipeline with a ROTATE, want 0", got)
	}
}

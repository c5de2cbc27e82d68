package node

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/sessions"
)

// A rolling restart under write load loses no acknowledged session: every node in turn
// leaves (hand-off), stops, and comes back empty at the same address, as `docker restart`
// does in the chaos runs, while clients start sessions and write payloads through every
// node. The next node goes only once the cluster reports nothing under-replicated.
// SG_ROLLING_ROUNDS repeats the whole rolling restart (default 1).
func TestRollingRestartUnderLoadLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and restarts five nodes")
	}
	rounds := 1
	if s := os.Getenv("SG_ROLLING_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	rollingRestart(t, 5, nil, make([][]nodeOpt, rounds), nil)
}

// rollingRestart starts size nodes with opts, then restarts every node in turn once per
// phase, with that phase's options, under write load, and checks that every acknowledged
// write is still there at the end. afterPhase, if set, runs once each phase is converged.
func rollingRestart(t *testing.T, size int, opts []nodeOpt, phases [][]nodeOpt, afterPhase func(phase int, nodes []*testNode)) {
	rounds := len(phases)
	ports := make([]int, size)
	nodes := make([]*testNode, size)
	var mu sync.RWMutex // guards nodes
	for i := range nodes {
		ports[i] = freePort(t)
		var seeds []string
		if i > 0 {
			seeds = []string{nodes[0].gossip}
		}
		nodes[i] = startNodeAt(t, ports[i], fmt.Sprintf("n%d", i), seeds, opts...)
	}
	waitMembers(t, nodes, size)

	type acked struct {
		id  sessions.ID
		val string // last acknowledged payload, "" if none
	}
	var (
		stop     atomic.Bool
		wg       sync.WaitGroup
		ackMu    sync.Mutex
		sessAck  []acked
		attempts atomic.Int64
	)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; !stop.Load(); i++ {
				mu.RLock()
				via := nodes[rng.IntN(size)].n
				mu.RUnlock()
				id := newID(t, -1)
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, err := via.Do(ctx, &sessions.Command{Kind: sessions.KindStart, Tenant: testTenant, ID: id, TTL: 3600})
				cancel()
				attempts.Add(1)
				if err != nil {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				a := acked{id: id}
				val := fmt.Sprintf("w%d-%d", w, i)
				ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
				_, err = via.Do(ctx, &sessions.Command{Kind: sessions.KindPSet, Tenant: testTenant, ID: id, Name: []byte("v"), Data: []byte(val)})
				cancel()
				if err == nil {
					a.val = val
				}
				ackMu.Lock()
				sessAck = append(sessAck, a)
				ackMu.Unlock()
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}

	converged := func(what string) {
		t.Helper()
		var why string
		defer func() {
			if t.Failed() {
				t.Logf("last seen: %s", why)
			}
		}()
		eventually(t, 60*time.Second, what, func() bool {
			mu.RLock()
			defer mu.RUnlock()
			for _, tn := range nodes {
				v := tn.n.ClusterView()
				if len(v.Members) != size {
					why = fmt.Sprintf("%s sees %d members", tn.name, len(v.Members))
					return false
				}
				for _, p := range v.Partitions {
					if p.UnderReplicated {
						why = fmt.Sprintf("%s: partition %d under-replicated (%+v), syncs %d", tn.name, p.Partition, p, v.SyncsInProgress)
						return false
					}
				}
			}
			return true
		})
	}
	for round := range rounds {
		for _, i := range rand.Perm(size) {
			mu.RLock()
			old := nodes[i]
			mu.RUnlock()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			if err := old.n.Leave(ctx); err != nil {
				t.Fatal(err)
			}
			cancel()
			old.n.Shutdown()
			seed := nodes[(i+1)%size].gossip
			back := startNodeAt(t, ports[i], old.name, []string{seed}, phases[round]...)
			mu.Lock()
			nodes[i] = back
			mu.Unlock()
			converged(fmt.Sprintf("round %d: the cluster to converge after restarting %s", round, old.name))
		}
		if afterPhase != nil {
			mu.RLock()
			afterPhase(round, nodes)
			mu.RUnlock()
		}
	}
	stop.Store(true)
	wg.Wait()
	converged("the cluster to converge at the end")

	ackMu.Lock()
	defer ackMu.Unlock()
	t.Logf("%d STARTs tried, %d acknowledged, over %d rolling restart(s)", attempts.Load(), len(sessAck), rounds)
	var lost []string
	for i, a := range sessAck {
		// Through one node each (any node routes to the primary), every node in turn.
		for _, tn := range []*testNode{nodes[i%size]} {
			res, err := doRetry(t, tn.n, sessions.Command{Kind: sessions.KindPGet, Tenant: testTenant, ID: a.id, Name: []byte("v")})
			switch {
			case err != nil && !(a.val == "" && errors.Is(err, sessions.ErrNoPayload)):
				lost = append(lost, fmt.Sprintf("%s through %s: %v (payload %q acknowledged)", a.id, tn.name, err, a.val))
			case err == nil && a.val != "" && string(res.Data) != a.val:
				lost = append(lost, fmt.Sprintf("%s through %s: payload %q, acknowledged %q", a.id, tn.name, res.Data, a.val))
			}
		}
	}
	if len(lost) > 0 {
		t.Fatalf("%d reads found acknowledged writes missing:\n%s", len(lost), strings.Join(lost[:min(len(lost), 20)], "\n"))
	}
}

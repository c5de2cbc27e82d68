package main

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestProberReadsThroughHealthyNodesUntilAnswered(t *testing.T) {
	var frozenCalls, answers atomic.Int64
	frozen := newFakeNode(t, func(args []string) string { frozenCalls.Add(1); return "" })
	// The partition answers from the third read on.
	healthy := newFakeNode(t, func(args []string) string {
		if answers.Add(1) < 3 {
			return errReply("TRYAGAIN partition 7 is still being handed over")
		}
		return bulk("v")
	})
	var nodes []*redis.Client
	for _, n := range []*fakeNode{frozen, healthy} {
		c := dial(n.addr, 8, time.Second)
		defer c.Close()
		nodes = append(nodes, c)
	}
	p := newProber(nodes, "k", 1, func() []int { return []int{1} }, newErrorTable())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.run(ctx); close(done) }()
	p.open(7, testToken)
	deadline := time.Now().Add(30 * time.Second)
	for {
		p.mu.Lock()
		_, open := p.gaps[7]
		p.mu.Unlock()
		if !open {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the gap never closed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	recs := p.records()
	if last := recs[len(recs)-1]; last.out != acked || last.part != 7 || last.kind != opProbe {
		t.Fatalf("last probe %+v", last)
	}
	if frozenCalls.Load() != 0 {
		t.Fatal("the prober read through a node a fault holds")
	}
}

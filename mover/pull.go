package mover

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"
)

// syncParallelism bounds the partitions a node pulls at once after a view change.
const syncParallelism = 16

// Pull is a Sync under way: Ready, when not nil, is closed once every source was tried once
// (the gate of a Sync with Gate set).
type Pull struct {
	Sync
	Ready chan struct{}
}

// Start counts pulls as under way before the view that calls for them can be read (so that
// no report finds a partition complete that is still being pulled), then runs them in the
// background in view v.
func (m *Mover) Start(v View, pulls []Pull) {
	if len(pulls) == 0 {
		return
	}
	for _, pl := range pulls {
		m.pulling[pl.P].Add(1)
	}
	go m.run(v, pulls)
}

// run pulls every partition from everyone who may hold a copy, gated ones first, then once
// more a moment later for writes a previous primary accepted before it saw the new view.
func (m *Mover) run(v View, pulls []Pull) {
	start := time.Now()
	slices.SortStableFunc(pulls, func(a, b Pull) int {
		return cmp.Compare(boolInt(a.Ready == nil), boolInt(b.Ready == nil))
	})
	var wg sync.WaitGroup
	sem := make(chan struct{}, syncParallelism)
	for _, pl := range pulls {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			m.pullFromAll(v, pl.Sync, func() {
				if pl.Ready != nil {
					close(pl.Ready)
				}
			})
			m.pulling[pl.P].Add(-1)
		}()
	}
	wg.Wait()
	took := time.Since(start)
	m.lastSyncMs.Store(took.Milliseconds())
	m.log.Info("partitions synced after ring change", "partitions", len(pulls), "took", took)
	if !m.sleep(time.Second) {
		return
	}
	for _, pl := range pulls {
		m.pullFromAll(v, pl.Sync, func() {})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// pullFromAll pulls partition s.P from every member in s.From. Once each has been tried once
// (with a short timeout), firstRound runs: a partition waiting to serve is not held up for
// long by a member that is alive in the view but not answering (paused, cut off). Members
// that failed are retried twice more, with longer timeouts, before it returns.
func (m *Mover) pullFromAll(v View, s Sync, firstRound func()) {
	var first, all sync.WaitGroup
	for _, member := range s.From {
		addr, _ := v.Addr(member)
		first.Add(1)
		all.Add(1)
		go func() {
			defer all.Done()
			for attempt := 0; attempt < 3; attempt++ {
				timeout := 4 * m.cfg.RPCTimeout
				if attempt == 0 {
					timeout = m.cfg.RPCTimeout
				}
				err := m.pullPartition(addr, v.Ring().Partitions(), s.P, timeout)
				if attempt == 0 {
					first.Done()
				}
				if err == nil {
					return
				} else if attempt == 2 {
					m.log.Warn("partition pull failed", "partition", s.P, "from", member, "err", err)
				}
				if !m.sleep(200 * time.Millisecond) {
					return
				}
			}
		}()
	}
	first.Wait()
	firstRound()
	all.Wait()
}

func (m *Mover) pullPartition(addr string, partitions, p int, timeout time.Duration) error {
	for _, s := range slotsOf(partitions, p) {
		if err := m.pullSlot(addr, int(s), timeout); err != nil {
			return err
		}
	}
	return nil
}

func (m *Mover) pullSlot(addr string, slot int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(m.life, timeout)
	defer cancel()
	ops, err := m.peers.Pull(ctx, addr, slot)
	if err != nil {
		return err
	}
	for i := range ops {
		m.store.Apply(&ops[i])
	}
	return nil
}

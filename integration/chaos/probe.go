package main

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// prober measures how long a partition stays unanswered. Once a workload operation on a
// partition gets no answer, the prober reads a session of that partition through nodes no
// fault holds, every probeEvery, until one read is answered. Without it, the end of an
// outage would be seen only when the workload happened to touch the partition again.
type prober struct {
	nodes   []*redis.Client
	key     string
	healthy func() []int // the nodes no fault holds now
	errs    *errorTable

	mu       sync.Mutex
	rng      *rand.Rand
	gaps     map[int16]string // open partition -> a token in it
	inflight map[int16]int
	recs     []opRecord
}

const (
	probeEvery = 250 * time.Millisecond
	// probeParallel bounds the reads in flight per partition: one stuck on a frozen
	// primary must not hide that the next one would be answered.
	probeParallel = 4
)

func newProber(nodes []*redis.Client, key string, seed uint64, healthy func() []int, errs *errorTable) *prober {
	return &prober{nodes: nodes, key: key, healthy: healthy, errs: errs, rng: rand.New(rand.NewPCG(seed, 0x9b0e)),
		gaps: map[int16]string{}, inflight: map[int16]int{}}
}

// open starts probing a partition that did not answer, if not already.
func (p *prober) open(part int16, token string) {
	if part < 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.gaps[part]; !ok {
		p.gaps[part] = token
	}
}

// run probes until ctx is done, then waits for reads in flight.
func (p *prober) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		healthy := p.healthy()
		if len(healthy) == 0 {
			continue
		}
		p.mu.Lock()
		for part, token := range p.gaps {
			if p.inflight[part] >= probeParallel {
				continue
			}
			p.inflight[part]++
			node := healthy[p.rng.IntN(len(healthy))]
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.read(part, token, node)
			}()
		}
		p.mu.Unlock()
	}
}

func (p *prober) read(part int16, token string, node int) {
	inv := time.Now()
	err := p.nodes[node].Do(context.Background(), "SESSIONGATE.PGET", p.key, token, payloadNames[0]).Err()
	out, avail := classify(err)
	if isMsg(err, msgNoPayload) || isMsg(err, msgNoSession) {
		out = acked // an answer about the data: the partition is served
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inflight[part]--
	p.recs = append(p.recs, opRecord{inv: inv, done: time.Now(), kind: opProbe, out: out, avail: avail,
		node: int8(node), part: part, msg: p.errs.intern(err, out)})
	if out == acked {
		delete(p.gaps, part)
	}
}

// records returns the probes made.
func (p *prober) records() []opRecord {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]opRecord(nil), p.recs...)
}

// Package workpool runs functions on reused goroutines. A goroutine starts with a small
// stack and grows it by copying; work that runs deep (decoders, handlers, system calls) pays
// that growth again on every fresh goroutine. A Pool keeps finished goroutines waiting for
// the next function for a while, so their grown stacks are reused.
package workpool

import (
	"sync"
	"time"
)

// DefaultIdle is how long an idle worker waits for more work before it exits.
const DefaultIdle = 10 * time.Second

// Pool hands functions to idle workers, starting new ones when none is idle. It does not
// bound concurrency: callers that need a bound keep one of their own. The zero Pool is
// ready to use, with DefaultIdle.
type Pool struct {
	// Idle is how long a worker waits for more work before it exits (0: DefaultIdle).
	Idle time.Duration

	once sync.Once
	work chan func()
	stop chan struct{}
	wg   sync.WaitGroup
	// mu orders Go's wg.Add before Close's wg.Wait: once closed is set (under the write
	// lock), no worker is added, so none can be added while Close waits.
	mu     sync.RWMutex
	closed bool
}

func (p *Pool) init() {
	p.once.Do(func() {
		p.work = make(chan func())
		p.stop = make(chan struct{})
	})
}

// Go runs fn on an idle worker, or on a new one.
func (p *Pool) Go(fn func()) {
	p.init()
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		go fn()
		return
	}
	select {
	case p.work <- fn:
	default:
		p.wg.Add(1)
		go p.worker(fn)
	}
}

func (p *Pool) worker(fn func()) {
	defer p.wg.Done()
	idle := p.Idle
	if idle <= 0 {
		idle = DefaultIdle
	}
	t := time.NewTimer(idle)
	defer t.Stop()
	for {
		fn()
		t.Reset(idle)
		select {
		case fn = <-p.work:
		case <-t.C:
			return
		case <-p.stop:
			return
		}
	}
}

// Close lets idle workers exit and waits until every worker, busy ones included, is done.
// Calling it again only waits. A function given to Go from Close on still runs, on a
// goroutine of its own that Close does not wait for.
func (p *Pool) Close() {
	p.init()
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.stop)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

package replica

import (
	"context"
	"time"
)

// Wait waits until every partition is decided, or ctx ends, and leaves the outcome in Err.
func (f *Flight) Wait(ctx context.Context) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for !f.settle() {
		// Wake when the first outstanding lease runs out: its holder no longer counts.
		var expiry <-chan time.Time
		if first := f.firstLease(); first != 0 {
			wait := time.Duration(first-f.r.clock.Now()) + time.Millisecond
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			expiry = timer.C
		}
		select {
		case a := <-f.results:
			f.take(a)
		case <-expiry:
			f.expireLeases()
		case <-ctx.Done():
			f.timedOut()
			return
		}
	}
	if wait := f.fence(); wait > 0 {
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			f.timedOut()
		}
	}
}

// WhenDone has the flight call fn once it is decided, on whichever goroutine decides it
// (this one, if it already is), or once ctx ends with what is undecided failed. Err is
// fn's to read.
func (f *Flight) WhenDone(ctx context.Context, fn func()) {
	f.mu.Lock()
	f.onDone = fn
	if run := f.decideLocked(); run != nil {
		f.mu.Unlock()
		run()
		return
	}
	f.mu.Unlock()
	stop := context.AfterFunc(ctx, func() {
		f.mu.Lock()
		if f.finished {
			f.mu.Unlock()
			return
		}
		f.timedOut()
		run := f.finishLocked()
		f.mu.Unlock()
		run()
	})
	f.mu.Lock()
	if f.finished {
		f.mu.Unlock()
		stop()
		return
	}
	f.stop = stop
	f.mu.Unlock()
}

// decideLocked decides what it can and returns onDone when the flight is over, or nil,
// with a timer set for what it waits on next: a lease's end, or the fence's.
func (f *Flight) decideLocked() func() {
	if f.finished {
		return nil
	}
	var wait time.Duration
	if !f.settle() {
		first := f.firstLease()
		if first == 0 {
			return nil // only acknowledgements to wait for
		}
		wait = time.Duration(first-f.r.clock.Now()) + time.Millisecond
	} else if fence := f.fence(); fence > 0 {
		wait = fence
	} else {
		return f.finishLocked()
	}
	if f.timer == nil {
		f.timer = time.AfterFunc(wait, f.tick)
	} else {
		f.timer.Reset(wait)
	}
	return nil
}

// tick is the timer's: a lease or the fence may have run out.
func (f *Flight) tick() {
	f.mu.Lock()
	if f.finished { // stopped too late
		f.mu.Unlock()
		return
	}
	f.expireLeases()
	run := f.decideLocked()
	f.mu.Unlock()
	if run != nil {
		run()
	}
}

// finishLocked marks the flight over, stops its watches and returns onDone.
func (f *Flight) finishLocked() func() {
	f.finished = true
	if f.timer != nil {
		f.timer.Stop()
	}
	if f.stop != nil {
		f.stop()
	}
	return f.onDone
}

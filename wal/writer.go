package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// run is the writer: it takes whatever was appended, writes it with one call, fsyncs as the
// policy says, and tells the waiters. A Wait that finds nobody writing does the same on its
// own goroutine (flushLockedTo); wmu makes them take turns, and only its holder touches the
// segment files.
func (l *Log) run() {
	defer close(l.done)
	tick := time.NewTicker(min(time.Second, l.cfg.RetryEvery))
	defer tick.Stop()
	lastSync := time.Now()
	for {
		select {
		case <-l.kick:
			if l.cfg.Sync != SyncAlways {
				time.Sleep(flushDelay) // nobody waits: gather more records for this write
			}
			l.flush()
		case reply := <-l.rotate:
			l.wmu.Lock()
			n := l.flushLocked()
			r := l.rotateNow()
			l.wmu.Unlock()
			n.tell()
			reply <- r
		case <-tick.C:
			l.wmu.Lock()
			if l.Err() != nil {
				l.recover()
			}
			n := l.flushLocked()
			if l.cfg.Sync == SyncEverySec && l.dirty && time.Since(lastSync) >= time.Second {
				if err := l.sync(); err != nil {
					n.add(l.fail(err, nil))
				} else {
					l.dirty = false
				}
				lastSync = time.Now()
			}
			l.wmu.Unlock()
			n.tell()
		case <-l.stop:
			l.wmu.Lock()
			n := l.flushLocked()
			if l.f != nil {
				if err := l.sync(); err != nil && l.Err() == nil {
					n.add(l.fail(err, nil))
				}
				if l.f != nil {
					l.f.Close()
					l.f = nil
				}
			}
			l.wmu.Unlock()
			n.tell()
			l.mu.Lock()
			ws := l.waiters
			l.waiters = nil
			err := l.err
			if err == nil {
				err = ErrClosed
			}
			l.mu.Unlock()
			for _, w := range ws {
				w.fn(err)
			}
			return
		}
	}
}

// news is what waiters are to hear once wmu is released: their records are durable (err nil)
// or cannot be.
type news struct {
	ok, failed []waiter
	err        error
}

func (n *news) add(m news) {
	n.ok = append(n.ok, m.ok...)
	n.failed = append(n.failed, m.failed...)
	if m.err != nil {
		n.err = m.err
	}
}

func (n news) tell() {
	for _, w := range n.ok {
		w.fn(nil)
	}
	for _, w := range n.failed {
		w.fn(n.err)
	}
}

// flush writes the records appended so far, taking its turn with the writer.
func (l *Log) flush() {
	l.wmu.Lock()
	l.flushLockedTo(^Pos(0))
}

// flushLockedTo makes the records up to pos durable and releases wmu, which the caller
// holds: whoever held it before may have written them already, and then it writes nothing.
func (l *Log) flushLockedTo(pos Pos) {
	l.mu.Lock()
	done := pos <= l.durable
	l.mu.Unlock()
	var n news
	if !done {
		n = l.flushLocked()
	}
	l.wmu.Unlock()
	n.tell()
}

// flushLocked writes the records appended since the last flush; wmu is held.
func (l *Log) flushLocked() news {
	l.mu.Lock()
	if l.err != nil || l.f == nil || len(l.buf) == 0 {
		l.mu.Unlock()
		return news{}
	}
	buf, upto := l.buf, l.appended
	l.buf, l.spare = l.spare[:0], nil
	l.mu.Unlock()
	if err := l.write(buf); err != nil {
		return l.fail(err, buf)
	}
	l.mu.Lock()
	l.spare = buf
	l.durable = upto
	ws := l.take(upto)
	l.mu.Unlock()
	return news{ok: ws}
}

// write appends buf to the segment (starting the next one first when this one is full), and
// fsyncs under SyncAlways. A failed write is cut off the segment, so that it never stands
// in the middle of the log.
func (l *Log) write(buf []byte) error {
	if l.f == nil {
		return errors.New("no segment open")
	}
	if l.size > 0 && l.size+int64(len(buf)) > l.cfg.SegmentSize {
		if r := l.rotateNow(); r.err != nil {
			return r.err
		}
	}
	if _, err := l.f.Write(buf); err != nil {
		if terr := l.f.Truncate(l.size); terr != nil {
			l.log.Error("cannot cut a failed write off the log; restarting will report it as damage", "file", l.path(), "err", terr)
		}
		return fmt.Errorf("write %s: %w", l.path(), err)
	}
	l.size += int64(len(buf))
	l.dirty = true
	l.stats.writes.Add(1)
	l.stats.bytes.Add(uint64(len(buf)))
	if l.cfg.Sync == SyncAlways {
		if err := l.sync(); err != nil {
			return err
		}
		l.dirty = false
	}
	return nil
}

// fail puts the log in failure: Append refuses records, and every waiter is to hear why. The
// records of buf are kept to be written again. wmu is held.
func (l *Log) fail(err error, buf []byte) news {
	l.mu.Lock()
	first := l.err == nil
	l.err = fmt.Errorf("%w: %w", ErrFailed, err)
	l.failed.Store(true)
	l.retry = append(l.retry, buf...)
	n := news{failed: l.waiters, err: l.err}
	l.waiters = nil
	l.mu.Unlock()
	if first {
		l.log.Error("data directory: writes are refused until the log can be written again", "err", err)
	}
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
	return n
}

// recover tries to write the records of a failed write and what came after into a new
// segment; once it can, the log writes again. wmu is held.
func (l *Log) recover() {
	if l.f == nil {
		if err := l.next(); err != nil {
			return
		}
	}
	l.mu.Lock()
	buf := append(l.retry, l.buf...)
	upto := l.appended
	l.mu.Unlock()
	if err := l.write(buf); err != nil {
		l.f.Close()
		l.f = nil
		return
	}
	l.mu.Lock()
	l.err, l.retry, l.buf = nil, nil, l.buf[:0]
	l.failed.Store(false)
	l.durable = upto
	l.mu.Unlock()
	l.log.Info("data directory: the log is written again", "segment", l.path())
}

// take removes and returns the waiters for records up to pos.
func (l *Log) take(pos Pos) []waiter {
	i := 0
	for i < len(l.waiters) && l.waiters[i].pos <= pos {
		i++
	}
	ws := l.waiters[:i:i]
	l.waiters = l.waiters[i:]
	return ws
}

// rotateNow fsyncs and closes the segment and starts the next one.
func (l *Log) rotateNow() rotated {
	if l.f != nil {
		if err := l.sync(); err != nil {
			return rotated{err: err}
		}
		l.f.Close()
		l.f = nil
	}
	if err := l.next(); err != nil {
		return rotated{err: err}
	}
	return rotated{seg: l.seg}
}

// next creates the next segment file and makes its name durable.
func (l *Log) next() error {
	l.seg++
	f, err := l.cfg.Create(l.path())
	if err != nil {
		return fmt.Errorf("create %s: %w", l.path(), err)
	}
	if err := SyncDir(l.cfg.Dir); err != nil {
		f.Close()
		return err
	}
	l.f, l.size, l.dirty = f, 0, false
	return nil
}

// sync fsyncs the segment being written and counts it; the error names the segment.
func (l *Log) sync() error {
	start := time.Now()
	err := l.f.Sync()
	l.stats.fsyncs.Add(1)
	l.stats.fsyncNanos.Add(uint64(time.Since(start)))
	if err != nil {
		return fmt.Errorf("fsync %s: %w", l.path(), err)
	}
	return nil
}

func (l *Log) path() string { return filepath.Join(l.cfg.Dir, segmentName(l.seg)) }

// SyncDir fsyncs a directory, so that the files created or renamed in it stay.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

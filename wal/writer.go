package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// run is the writer: it takes whatever was appended, writes it with one call, fsyncs as the
// policy says, and tells the waiters. Only it touches the segment files.
func (l *Log) run() {
	defer close(l.done)
	tick := time.NewTicker(min(time.Second, l.cfg.RetryEvery))
	defer tick.Stop()
	lastSync := time.Now()
	for {
		select {
		case <-l.kick:
			l.flush()
		case reply := <-l.rotate:
			l.flush()
			reply <- l.rotateNow()
		case <-tick.C:
			if l.Err() != nil {
				l.recover()
			}
			l.flush()
			if l.cfg.Sync == SyncEverySec && l.dirty && time.Since(lastSync) >= time.Second {
				if err := l.f.Sync(); err != nil {
					l.fail(fmt.Errorf("fsync %s: %w", l.path(), err), nil)
				} else {
					l.dirty = false
				}
				lastSync = time.Now()
			}
		case <-l.stop:
			l.flush()
			if l.f != nil {
				if err := l.f.Sync(); err != nil && l.Err() == nil {
					l.fail(fmt.Errorf("fsync %s: %w", l.path(), err), nil)
				}
				l.f.Close()
			}
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

// flush writes the records appended since the last flush.
func (l *Log) flush() {
	l.mu.Lock()
	if l.err != nil || len(l.buf) == 0 {
		l.mu.Unlock()
		return
	}
	buf, upto := l.buf, l.appended
	l.buf, l.spare = l.spare[:0], nil
	l.mu.Unlock()
	if err := l.write(buf); err != nil {
		l.fail(err, buf)
		return
	}
	l.mu.Lock()
	l.spare = buf
	l.durable = upto
	ws := l.take(upto)
	l.mu.Unlock()
	for _, w := range ws {
		w.fn(nil)
	}
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
	if l.cfg.Sync == SyncAlways {
		if err := l.f.Sync(); err != nil {
			return fmt.Errorf("fsync %s: %w", l.path(), err)
		}
		l.dirty = false
	}
	return nil
}

// fail puts the log in failure: Append refuses records, and every waiter hears err. The
// records of buf are kept to be written again.
func (l *Log) fail(err error, buf []byte) {
	l.mu.Lock()
	first := l.err == nil
	l.err = fmt.Errorf("%w: %w", ErrFailed, err)
	l.retry = append(l.retry, buf...)
	ws := l.waiters
	l.waiters = nil
	l.mu.Unlock()
	if first {
		l.log.Error("data directory: writes are refused until the log can be written again", "err", err)
	}
	for _, w := range ws {
		w.fn(l.Err())
	}
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// recover tries to write the records of a failed write and what came after into a new
// segment; once it can, the log writes again.
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
		if err := l.f.Sync(); err != nil {
			return rotated{err: fmt.Errorf("fsync %s: %w", l.path(), err)}
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

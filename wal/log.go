package wal

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Log. Zero fields take the documented defaults.
type Config struct {
	// Dir holds the segment files. Required; it must exist.
	Dir string
	// Sync is when records become durable. Default SyncAlways.
	Sync Sync
	// SegmentSize is the size past which the writer starts the next segment. Default 64 MiB.
	SegmentSize int64
	// MaxPending is how many bytes of records may wait for the disk before Append refuses
	// more (ErrFull). Default 256 MiB.
	MaxPending int
	// RetryEvery is how often a failed log tries to write again. Default 1s.
	RetryEvery time.Duration
	// Create makes a new segment file. Default: os.OpenFile, exclusive, mode 0600.
	Create func(path string) (File, error)
	// Logger hears of failures and recoveries. Default slog.Default().
	Logger *slog.Logger
}

// File is what the log writes a segment to (an *os.File).
type File interface {
	io.Writer
	Sync() error
	Truncate(size int64) error
	Close() error
}

// Stats counts what the log has done since Open.
type Stats struct {
	Records   uint64        // records appended
	Bytes     uint64        // bytes written to segments, headers included
	Writes    uint64        // write calls: each carries every record appended since the last
	Fsyncs    uint64        // fsyncs of segments
	FsyncTime time.Duration // time spent in them
}

// stats are the writer's counters; Records is Appended.
type stats struct{ bytes, writes, fsyncs, fsyncNanos atomic.Uint64 }

// Stats returns the log's counters.
func (l *Log) Stats() Stats {
	return Stats{Records: uint64(l.Appended()), Bytes: l.stats.bytes.Load(), Writes: l.stats.writes.Load(),
		Fsyncs: l.stats.fsyncs.Load(), FsyncTime: time.Duration(l.stats.fsyncNanos.Load())}
}

// Pos is a record's place in the log: the first record appended after Open is 1.
type Pos uint64

// Log appends records to the segments of a directory.
type Log struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	buf      []byte // sealed records appended and not yet taken by the writer
	spare    []byte
	appended Pos // the last record appended
	durable  Pos // the last record durable under cfg.Sync
	err      error
	failed   atomic.Bool // err != nil, read without the lock by Err
	closed   bool
	waiters  []waiter // in Pos order
	retry    []byte   // records taken by a write that failed, to write again

	stats stats

	kick   chan struct{}
	rotate chan chan rotated
	stop   chan struct{}
	done   chan struct{}

	// The writer's, touched only by the holder of wmu (run, or a Wait writing itself).
	wmu   sync.Mutex
	seg   uint64
	f     File
	size  int64
	dirty bool // written since the last fsync
}

type waiter struct {
	pos Pos
	fn  func(error)
}

type rotated struct {
	seg uint64
	err error
}

// Open starts a log that writes to a new segment numbered seg (past every segment already in
// cfg.Dir; see Segments), and its writer goroutine.
func Open(cfg Config, seg uint64) (*Log, error) {
	if cfg.SegmentSize <= 0 {
		cfg.SegmentSize = 64 << 20
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 256 << 20
	}
	if cfg.RetryEvery <= 0 {
		cfg.RetryEvery = time.Second
	}
	if cfg.Create == nil {
		cfg.Create = func(path string) (File, error) {
			return os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	l := &Log{cfg: cfg, log: cfg.Logger, kick: make(chan struct{}, 1), rotate: make(chan chan rotated),
		stop: make(chan struct{}), done: make(chan struct{}), seg: seg - 1}
	if err := l.next(); err != nil {
		return nil, err
	}
	go l.run()
	return l, nil
}

// Append adds a record with payload and returns its position; the payload is copied. It
// never waits for the disk.
func (l *Log) Append(payload []byte) (Pos, error) {
	if err := checkSize(payload); err != nil {
		return 0, err
	}
	h := header(payload) // the checksum is taken before the lock, which appenders share
	l.mu.Lock()
	switch {
	case l.closed:
		l.mu.Unlock()
		return 0, ErrClosed
	case l.err != nil:
		err := l.err
		l.mu.Unlock()
		return 0, err
	case len(l.buf) > l.cfg.MaxPending:
		l.mu.Unlock()
		return 0, ErrFull
	}
	start := len(l.buf)
	l.buf = append(append(l.buf, h[:]...), payload...)
	l.appended++
	pos, full := l.appended, len(l.buf) >= flushBytes
	first := start == 0 && l.cfg.Sync != SyncAlways
	l.mu.Unlock()
	if full || first {
		l.wake()
	}
	return pos, nil
}

// flushBytes is how much the buffer holds before an Append wakes the writer. Below it, under
// SyncAlways the first waiter wakes it (WhenDurable) or writes itself (Wait); under the other
// policies the first record after a write does, and the writer waits flushDelay for more: so
// the records of many appends, a pipeline's or every connection's, go out in one write.
const (
	flushBytes = 1 << 20
	flushDelay = time.Millisecond
)

// wake asks the writer to flush.
func (l *Log) wake() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// Appended is the position of the last record appended.
func (l *Log) Appended() Pos {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.appended
}

// WhenDurable calls fn once the record at pos is durable under the log's policy (at once,
// on this goroutine, when it is already or the policy waits for nothing), or with the error
// that stopped the log.
func (l *Log) WhenDurable(pos Pos, fn func(error)) {
	l.mu.Lock()
	if l.err != nil {
		err := l.err
		l.mu.Unlock()
		fn(err)
		return
	}
	if l.cfg.Sync != SyncAlways || pos <= l.durable {
		l.mu.Unlock()
		fn(nil)
		return
	}
	if l.closed { // the writer may be gone: nobody would answer
		l.mu.Unlock()
		fn(ErrClosed)
		return
	}
	// Waiters come nearly in order, but two may register in the opposite order to their
	// positions: each goes in its place, so that take finds every one a write covers.
	i := len(l.waiters)
	for i > 0 && l.waiters[i-1].pos > pos {
		i--
	}
	l.waiters = slices.Insert(l.waiters, i, waiter{pos, fn})
	l.mu.Unlock()
	l.wake()
}

// Wait returns once the record at pos is durable (see WhenDurable), or ctx ends. When no one
// is writing it writes the records itself, with every record appended meanwhile (group
// commit), and with no hand-off to the writer goroutine and back. When someone is, it waits:
// that write may cover pos, and if it does not, the writer goroutine writes next. A waiter
// never queues for its turn to write, which would hold it through the next write as well,
// even one its records were already in.
func (l *Log) Wait(ctx context.Context, pos Pos) error {
	l.mu.Lock()
	err, durable := l.err, l.cfg.Sync != SyncAlways || pos <= l.durable
	l.mu.Unlock()
	if err != nil || durable {
		return err
	}
	if l.wmu.TryLock() {
		l.flushLockedTo(pos)
	}
	done := make(chan error, 1)
	l.WhenDurable(pos, func(err error) { done <- err })
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Err is the failure the log is in, or nil while it writes.
func (l *Log) Err() error {
	if !l.failed.Load() {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Rotate closes the segment being written, after everything appended so far, and starts the
// next one, whose number it returns: a snapshot taken afterwards plus the segments from that
// number on hold every record.
func (l *Log) Rotate(ctx context.Context) (uint64, error) {
	reply := make(chan rotated, 1)
	select {
	case l.rotate <- reply:
	case <-l.done:
		return 0, ErrClosed
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	r := <-reply
	return r.seg, r.err
}

// Remove deletes the segments numbered below seg (never the one being written).
func (l *Log) Remove(seg uint64) error {
	segs, err := Segments(l.cfg.Dir)
	if err != nil {
		return err
	}
	for _, n := range segs {
		if n >= seg {
			break
		}
		if err := os.Remove(filepath.Join(l.cfg.Dir, segmentName(n))); err != nil {
			return err
		}
	}
	return nil
}

// Close writes and fsyncs what was appended, and stops the log.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		<-l.done
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

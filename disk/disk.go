// Package disk keeps a node's store in a data directory, so that it survives a restart:
// every change the store takes (its Journal) is appended to a log (package wal), snapshots
// of the whole store bound the log's length and the time a restart takes, and Open loads the
// newest snapshot and the log after it back into a fresh store with Apply, the same merge
// every other path uses.
//
// The directory holds:
//
//	LOCK                        held while a node uses the directory
//	snapshot-<segment>          every live session and tombstone when the snapshot began
//	log/<segment>.wal           the changes since, as they were taken
//
// Every file is written with mode 0600 and the directory with 0700: it holds sessions'
// owners, client addresses, user agents and payloads.
package disk

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessiongate/sessiongate/sessions"
	"github.com/sessiongate/sessiongate/wal"
	"github.com/sessiongate/sessiongate/wire"
)

// Config configures a data directory. Zero fields take the documented defaults.
type Config struct {
	// Dir is the data directory; it is created if missing. Required.
	Dir string
	// Sync is when a change is durable (wal.Sync). Default wal.SyncAlways.
	Sync wal.Sync
	// SnapshotMin is how many bytes the log must grow past the last snapshot before the next
	// one; the log must also have grown past that snapshot's own size. Default 64 MiB.
	SnapshotMin int64
	// Create makes log segment files (tests inject failing ones). Default: wal's.
	Create func(path string) (wal.File, error)
	// Logger hears of loads, torn tails, snapshots and failures. Default slog.Default().
	Logger *slog.Logger
}

// Loaded is what Open found in the directory.
type Loaded struct {
	Snapshot  string        // the snapshot file loaded, "" if none
	Records   int           // log and snapshot records replayed
	Sessions  int           // live sessions once loaded
	LastAlive time.Time     // when the node that wrote the directory last ran; zero if new
	Members   []string      // the cluster's members when the node last ran (Disk.Members)
	Cut       *wal.Cut      // a torn tail cut off the log, if any
	Took      time.Duration // how long loading took
}

// Disk is an open data directory: the store's Journal.
type Disk struct {
	cfg   Config
	log   *slog.Logger
	store *sessions.Store
	wal   *wal.Log
	lock  *os.File

	loading atomic.Bool
	// gap is set when a change could not be appended: the log then lacks it, and nothing
	// counts as durable again until a snapshot (which holds it: the store does) is written.
	// gapGen counts gaps, so that a snapshot clears only those opened before it began.
	gap    atomic.Bool
	gapGen atomic.Uint64
	gapErr atomic.Pointer[error]

	members   atomic.Pointer[[]string] // as last recorded
	snapBase  atomic.Uint64            // the log's bytes written when the last snapshot began
	snapSize  atomic.Int64
	snapMu    sync.Mutex // one snapshot at a time
	snapshots atomic.Uint64
	lastSnap  atomic.Pointer[SnapshotInfo]

	buffers sync.Pool // of *[]byte, for Ops' records
	stop    chan struct{}
	wg      sync.WaitGroup
}

// ErrDisk wraps every failure to keep a change on disk: the change was made in memory but is
// not acknowledged. RESP clients see it as MISCONF, as Redis's failed persistence.
var ErrDisk = errors.New("data directory")

// diskError is a change that could not be made durable.
type diskError struct{ err error }

func (e *diskError) Error() string {
	return "MISCONF the data directory cannot be written: " + e.err.Error()
}
func (e *diskError) Unwrap() []error    { return []error{ErrDisk, e.err} }
func (e *diskError) RESPError() string  { return e.Error() }
func refused(err error) error           { return &diskError{err} }
func (d *Disk) logDir() string          { return filepath.Join(d.cfg.Dir, "log") }
func snapshotName(seg uint64) string    { return fmt.Sprintf("snapshot-%016x", seg) }
func (d *Disk) path(name string) string { return filepath.Join(d.cfg.Dir, name) }

// Ops logs ops the store took (sessions.Journal).
func (d *Disk) Ops(ops []sessions.Op) {
	if d.loading.Load() {
		return
	}
	buf := d.buffers.Get().(*[]byte)
	*buf = opsRecord((*buf)[:0], ops)
	d.append(*buf)
	if cap(*buf) <= 64<<10 { // a big one goes, rather than hold its memory in the pool
		d.buffers.Put(buf)
	}
}

// opsRecord appends to b the record of ops: its kind, then ops as a msgpack array.
func opsRecord(b []byte, ops []sessions.Op) []byte {
	b = wire.AppendArrayLen(append(b, recOps), len(ops))
	for i := range ops {
		b = wire.AppendOp(b, &ops[i])
	}
	return b
}

// Members records the cluster's members (this node's name among them), so that a restart
// knows whom to wait for; a list like the last recorded one is not logged again.
func (d *Disk) Members(names []string) {
	names = slices.Sorted(slices.Values(names))
	if old := d.members.Load(); old != nil && slices.Equal(*old, names) {
		return
	}
	d.members.Store(&names)
	d.append(membersRecord(names))
}

func membersRecord(names []string) []byte {
	rec := []byte{recMembers}
	for _, n := range names {
		rec = append(binary.AppendUvarint(rec, uint64(len(n))), n...)
	}
	return rec
}

// Dropped logs that the store dropped a slot (sessions.Journal).
func (d *Disk) Dropped(slot int) {
	if !d.loading.Load() {
		d.append([]byte{recDrop, byte(slot), byte(slot >> 8)})
	}
}

func (d *Disk) append(rec []byte) {
	if _, err := d.wal.Append(rec); err != nil {
		d.lost(err)
		return
	}
}

// lost records that a change is missing from the log.
func (d *Disk) lost(err error) {
	d.gapErr.Store(&err)
	d.gapGen.Add(1)
	if !d.gap.Swap(true) {
		d.log.Error("data directory: a change could not be logged; writes are refused until a snapshot holds it", "err", err)
	}
}

// Err is why changes are not durable now (they are refused), or nil.
func (d *Disk) Err() error {
	if d.gap.Load() {
		return refused(*d.gapErr.Load())
	}
	if err := d.wal.Err(); err != nil {
		return refused(err)
	}
	return nil
}

// Stats is what a data directory has done since Open.
type Stats struct {
	Sync      wal.Sync
	Log       wal.Stats
	Snapshots uint64        // snapshots written
	Last      *SnapshotInfo // the last one written since Open, or nil
	Err       error         // why writes are refused now, or nil
}

// SnapshotInfo describes a snapshot written.
type SnapshotInfo struct {
	At    time.Time // when it was done
	Bytes int64
	Took  time.Duration
}

// Stats returns the directory's counters.
func (d *Disk) Stats() Stats {
	return Stats{Sync: d.cfg.Sync, Log: d.wal.Stats(), Snapshots: d.snapshots.Load(), Last: d.lastSnap.Load(), Err: d.Err()}
}

// Waits reports whether durability is waited for: under fsync always. Under the other
// policies a change counts as durable once it is taken.
func (d *Disk) Waits() bool { return d.cfg.Sync == wal.SyncAlways }

// WhenDurable calls fn once every change taken so far is durable under the fsync policy, or
// with the error that keeps it from being.
func (d *Disk) WhenDurable(fn func(error)) {
	if err := d.Err(); err != nil {
		fn(err)
		return
	}
	d.wal.WhenDurable(d.wal.Appended(), func(err error) {
		if err != nil {
			err = refused(err)
		}
		fn(err)
	})
}

// Wait returns once every change taken so far is durable (see WhenDurable), or ctx ends;
// the calling goroutine may write the log itself (wal.Log.Wait).
func (d *Disk) Wait(ctx context.Context) error {
	if err := d.Err(); err != nil {
		return err
	}
	err := d.wal.Wait(ctx, d.wal.Appended())
	if err != nil && ctx.Err() == nil {
		return refused(err)
	}
	return err
}

// Close stops the background work, writes what the log holds and releases the directory.
func (d *Disk) Close() error {
	close(d.stop)
	d.wg.Wait()
	d.append(timeRecord(time.Now())) // the node ran until now
	err := d.wal.Close()
	d.lock.Close()
	return err
}

// Record kinds: the first byte of every record.
const (
	recOps     = 'o' // a msgpack array of ops
	recDrop    = 'd' // a slot dropped, two bytes little endian
	recTime    = 't' // the wall clock, unix ms, eight bytes little endian
	recVersion = 'v' // a snapshot's first record: its format
	recMembers = 'm' // the cluster's members, each name as a uvarint length and its bytes
)

// snapshotFormat is the snapshot format this build writes and reads.
const snapshotFormat = "sessiongate snapshot 1"

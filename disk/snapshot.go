package disk

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sessiongate/sessiongate/sessions"
	"github.com/sessiongate/sessiongate/wal"
)

// snapshotCheck is how often the background work considers a snapshot.
const snapshotCheck = 5 * time.Second

// start runs the background work: a clock record every second (so that a restart knows when
// the node last ran), and a snapshot once the log has grown enough, or at once after a gap.
func (d *Disk) start() {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		last := time.Now()
		for {
			select {
			case <-d.stop:
				return
			case now := <-tick.C:
				d.append(timeRecord(now))
				grown := int64(d.wal.Stats().Bytes - d.snapBase.Load())
				due := grown > d.cfg.SnapshotMin && grown > d.snapSize.Load()
				if (due || d.gap.Load() && d.wal.Err() == nil) && now.Sub(last) >= snapshotCheck {
					last = now
					if err := d.Snapshot(context.Background()); err != nil {
						d.log.Error("data directory: snapshot failed", "err", err)
					}
				}
			}
		}
	}()
}

func timeRecord(t time.Time) []byte {
	rec := make([]byte, 9)
	rec[0] = recTime
	binary.LittleEndian.PutUint64(rec[1:], uint64(t.UnixMilli()))
	return rec
}

// Snapshot writes every live session and tombstone of the store to a new snapshot file and
// drops the log segments and the snapshot it makes redundant. The log is rotated first: a
// change taken before the rotation is in the store when it is read, so in the snapshot, and
// every change after it is in the new segments.
func (d *Disk) Snapshot(ctx context.Context) error {
	d.snapMu.Lock()
	defer d.snapMu.Unlock()
	start := time.Now()
	gen := d.gapGen.Load()
	seg, err := d.wal.Rotate(ctx)
	if err != nil {
		return err
	}
	base := d.wal.Stats().Bytes
	size, n, err := d.writeSnapshot(seg)
	if err != nil {
		return err // still due
	}
	d.snapBase.Store(base)
	d.snapSize.Store(size)
	d.snapshots.Add(1)
	d.lastSnap.Store(&SnapshotInfo{At: time.Now(), Bytes: size, Took: time.Since(start)})
	if err := d.wal.Remove(seg); err != nil {
		d.log.Warn("data directory: cannot remove old log segments", "err", err)
	}
	d.removeSnapshotsBefore(seg)
	if d.gapGen.Load() == gen && d.gap.Swap(false) {
		d.log.Info("data directory: a snapshot holds every change again; writes are taken")
	}
	d.log.Info("data directory: snapshot written", "file", d.path(snapshotName(seg)), "ops", n, "bytes", size, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// writeSnapshot writes the store to snapshot-seg through a temporary file, and returns its
// size and the ops in it.
func (d *Disk) writeSnapshot(seg uint64) (int64, int, error) {
	tmp := d.path("snapshot.tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, 0, err
	}
	defer os.Remove(tmp) // after the rename, a no-op
	w := wal.NewWriter(bufio.NewWriterSize(f, 1<<20))
	w.Put(append([]byte{recVersion}, snapshotFormat...))
	w.Put(timeRecord(time.Now()))
	if m := d.members.Load(); m != nil {
		w.Put(membersRecord(*m))
	}
	var rec []byte
	var batch []sessions.Op
	flush := func() {
		if len(batch) == 0 {
			return
		}
		rec = opsRecord(rec[:0], batch)
		w.Put(rec)
		batch = batch[:0]
	}
	n := 0
	for slot := range sessions.Slots {
		d.store.SlotOps(slot, func(op *sessions.Op) {
			batch = append(batch, *op)
			n++
			if len(batch) == 256 {
				flush()
			}
		})
	}
	flush()
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, 0, fmt.Errorf("snapshot: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return 0, 0, fmt.Errorf("snapshot: fsync: %w", err)
	}
	fi, err := f.Stat()
	f.Close()
	if err != nil {
		return 0, 0, err
	}
	if err := os.Rename(tmp, d.path(snapshotName(seg))); err != nil {
		return 0, 0, fmt.Errorf("snapshot: %w", err)
	}
	if err := wal.SyncDir(d.cfg.Dir); err != nil {
		return 0, 0, err
	}
	return fi.Size(), n, nil
}

// removeSnapshotsBefore deletes the snapshots older than the one of segment seg.
func (d *Disk) removeSnapshotsBefore(seg uint64) {
	entries, err := os.ReadDir(d.cfg.Dir)
	if err != nil {
		return
	}
	keep := snapshotName(seg)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "snapshot-") && e.Name() < keep {
			if err := os.Remove(d.path(e.Name())); err != nil {
				d.log.Warn("data directory: cannot remove an old snapshot", "err", err)
			}
		}
	}
}

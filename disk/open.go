package disk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/sessiongate/sessiongate/sessions"
	"github.com/sessiongate/sessiongate/wal"
	"github.com/sessiongate/sessiongate/wire"
)

// Open locks the data directory, loads the newest snapshot and the log after it into a new
// store made with storeCfg (its Journal is the Disk), and starts logging the store's
// changes. A torn tail of the log is cut and reported in Loaded; damage anywhere else is an
// error that names the file and offset (see docs/operations.md to recover).
func Open(cfg Config, storeCfg sessions.Config) (*Disk, *sessions.Store, Loaded, error) {
	start := time.Now()
	if cfg.Dir == "" {
		return nil, nil, Loaded{}, errors.New("data directory: no path")
	}
	if cfg.SnapshotMin <= 0 {
		cfg.SnapshotMin = 64 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	d := &Disk{cfg: cfg, log: cfg.Logger, stop: make(chan struct{})}
	d.buffers.New = func() any { return new([]byte) }
	if err := d.prepare(); err != nil {
		return nil, nil, Loaded{}, err
	}
	storeCfg.Journal = d
	d.store = sessions.New(storeCfg)
	d.loading.Store(true)
	loaded, next, err := d.load()
	d.loading.Store(false)
	if err != nil {
		d.lock.Close()
		return nil, nil, Loaded{}, err
	}
	d.wal, err = wal.Open(wal.Config{Dir: d.logDir(), Sync: cfg.Sync, Create: cfg.Create, Logger: cfg.Logger}, next)
	if err != nil {
		d.lock.Close()
		return nil, nil, Loaded{}, fmt.Errorf("data directory: %w", err)
	}
	loaded.Sessions = d.store.Stats().Sessions
	loaded.Took = time.Since(start)
	d.start()
	return d, d.store, loaded, nil
}

// prepare makes the directory and its log directory, closes it to other users, and locks it.
func (d *Disk) prepare() error {
	for _, dir := range []string{d.cfg.Dir, d.logDir()} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
	}
	// It holds every session: an existing directory others may enter is closed to them.
	if fi, err := os.Stat(d.cfg.Dir); err == nil && fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(d.cfg.Dir, 0o700); err != nil {
			d.log.Warn("data directory: others may read it, and it could not be closed to them (chmod 700)", "dir", d.cfg.Dir, "mode", fi.Mode().Perm(), "err", err)
		} else {
			d.log.Info("data directory: closed to other users", "dir", d.cfg.Dir, "was", fi.Mode().Perm())
		}
	}
	lock, err := lockDir(d.path("LOCK"))
	if err != nil {
		return fmt.Errorf("data directory %s: %w", d.cfg.Dir, err)
	}
	d.lock = lock
	return nil
}

// load replays the newest snapshot and the log after it, and returns the segment to write next.
func (d *Disk) load() (Loaded, uint64, error) {
	var l Loaded
	var alive int64
	replay := func(rec []byte) error {
		l.Records++
		return d.replay(rec, &alive, &l.Members)
	}
	snap, from, err := d.newestSnapshot()
	if err != nil {
		return l, 0, err
	}
	if snap != "" {
		first := true
		err := wal.ReadFile(d.path(snap), func(rec []byte) error {
			if first && (len(rec) == 0 || rec[0] != recVersion || string(rec[1:]) != snapshotFormat) {
				return fmt.Errorf("not a snapshot this build can read (%q)", rec)
			}
			first = false
			return replay(rec)
		})
		if err != nil {
			return l, 0, fmt.Errorf("data directory: snapshot %s: %w", d.path(snap), err)
		}
		if fi, err := os.Stat(d.path(snap)); err == nil {
			d.snapSize.Store(fi.Size())
		}
		l.Snapshot = d.path(snap)
	}
	cut, err := wal.Read(d.logDir(), from, replay)
	if err != nil {
		return l, 0, fmt.Errorf("data directory: %w", err)
	}
	if cut != nil {
		d.log.Warn("data directory: cut a torn tail off the log (a write the process did not finish)",
			"file", cut.File, "offset", cut.Offset, "bytes", cut.Bytes)
		l.Cut = cut
	}
	if l.Members != nil {
		d.members.Store(&l.Members)
	}
	if alive > 0 {
		l.LastAlive = time.UnixMilli(alive)
		d.store.SeenBy(alive)
	}
	segs, err := wal.Segments(d.logDir())
	if err != nil {
		return l, 0, fmt.Errorf("data directory: %w", err)
	}
	next := max(from, 1)
	if len(segs) > 0 {
		next = max(next, segs[len(segs)-1]+1)
	}
	return l, next, nil
}

// replay applies one record to the store.
func (d *Disk) replay(rec []byte, alive *int64, members *[]string) error {
	if len(rec) == 0 {
		return errors.New("an empty record")
	}
	body := rec[1:]
	switch rec[0] {
	case recOps:
		dec := msgpack.NewDecoder(bytes.NewReader(body))
		ops, err := wire.ReadOps(dec)
		if err != nil {
			return fmt.Errorf("ops record: %w", err)
		}
		d.store.ApplyAll(ops)
	case recDrop:
		if len(body) != 2 {
			return fmt.Errorf("drop record of %d bytes", len(body))
		}
		if slot := int(binary.LittleEndian.Uint16(body)); slot < sessions.Slots {
			d.store.DropSlot(slot)
		}
	case recTime:
		if len(body) != 8 {
			return fmt.Errorf("time record of %d bytes", len(body))
		}
		*alive = max(*alive, int64(binary.LittleEndian.Uint64(body)))
	case recVersion:
	case recMembers:
		var names []string
		for b := body; len(b) > 0; {
			n, k := binary.Uvarint(b)
			if k <= 0 || n > uint64(len(b)-k) {
				return errors.New("members record: a bad name length")
			}
			names = append(names, string(b[k:k+int(n)]))
			b = b[k+int(n):]
		}
		*members = names
	default:
		return fmt.Errorf("unknown record kind %q", rec[0])
	}
	return nil
}

// newestSnapshot names the newest snapshot file and the log segment its replay starts at.
func (d *Disk) newestSnapshot() (string, uint64, error) {
	entries, err := os.ReadDir(d.cfg.Dir)
	if err != nil {
		return "", 0, fmt.Errorf("data directory: %w", err)
	}
	var segs []uint64
	for _, e := range entries {
		hex, ok := strings.CutPrefix(e.Name(), "snapshot-")
		if !ok || len(hex) != 16 {
			continue
		}
		if n, err := strconv.ParseUint(hex, 16, 64); err == nil {
			segs = append(segs, n)
		}
	}
	if len(segs) == 0 {
		return "", 0, nil
	}
	n := slices.Max(segs)
	return snapshotName(n), n, nil
}

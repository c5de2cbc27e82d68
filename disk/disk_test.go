package disk

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/sessions"
	"github.com/sessiongate/sessiongate/wal"
)

var tenant = sessions.TenantOf([]byte("key"))

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func open(t *testing.T, cfg Config) (*Disk, *sessions.Store, Loaded) {
	t.Helper()
	cfg.Logger = quiet()
	d, s, l, err := Open(cfg, sessions.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return d, s, l
}

func do(t *testing.T, s *sessions.Store, cmd sessions.Command) sessions.Result {
	t.Helper()
	cmd.Tenant = tenant
	res, err := s.Do(&cmd)
	if err != nil {
		t.Fatalf("%v: %v", cmd.Kind, err)
	}
	return res
}

func newID(t *testing.T, slot int) sessions.ID {
	t.Helper()
	id, err := sessions.NewID(rand.Reader, slot)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func pget(s *sessions.Store, id sessions.ID) (string, error) {
	res, err := s.Do(&sessions.Command{Kind: sessions.KindPGet, Tenant: tenant, ID: id, Name: []byte("v")})
	return string(res.Data), err
}

// What a store took comes back after a restart: live sessions with their payloads, ended
// ones ended, dropped slots empty.
func TestChangesSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	d, s, l := open(t, Config{Dir: dir})
	if l.Snapshot != "" || l.Records != 0 || !l.LastAlive.IsZero() {
		t.Fatalf("a new directory loaded %+v", l)
	}
	live, ended, dropped := newID(t, 1), newID(t, 2), newID(t, 3)
	for _, id := range []sessions.ID{live, ended, dropped} {
		do(t, s, sessions.Command{Kind: sessions.KindStart, ID: id, TTL: 3600})
		do(t, s, sessions.Command{Kind: sessions.KindPSet, ID: id, Name: []byte("v"), Data: []byte(id.String())})
	}
	do(t, s, sessions.Command{Kind: sessions.KindEnd, ID: ended})
	s.DropSlot(3)
	if err := d.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	d, s, l = open(t, Config{Dir: dir})
	defer d.Close()
	if l.Sessions != 1 || l.LastAlive.IsZero() || time.Since(l.LastAlive) > time.Minute {
		t.Fatalf("loaded %+v", l)
	}
	if got, err := pget(s, live); err != nil || got != live.String() {
		t.Fatalf("live session: %q %v", got, err)
	}
	if _, err := pget(s, ended); !errors.Is(err, sessions.ErrNoSession) || !s.Ended(ended) {
		t.Fatalf("ended session: %v, tombstone %v", err, s.Ended(ended))
	}
	if _, err := pget(s, dropped); !errors.Is(err, sessions.ErrNoSession) {
		t.Fatalf("dropped session: %v", err)
	}
}

// A snapshot replaces the log before it; what came after is read from the log.
func TestSnapshotThenLog(t *testing.T) {
	dir := t.TempDir()
	d, s, _ := open(t, Config{Dir: dir})
	var ids []sessions.ID
	for i := range 100 {
		id := newID(t, i)
		ids = append(ids, id)
		do(t, s, sessions.Command{Kind: sessions.KindStart, ID: id, TTL: 3600})
	}
	if err := d.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := d.Stats(); st.Snapshots != 1 || st.Last == nil || st.Last.Bytes <= 0 || st.Log.Records < 100 {
		t.Fatalf("stats after a snapshot of 100 sessions: %+v", st)
	}
	late := newID(t, 7)
	do(t, s, sessions.Command{Kind: sessions.KindStart, ID: late, TTL: 3600})
	do(t, s, sessions.Command{Kind: sessions.KindEnd, ID: ids[0]})
	d.Close()
	segs, _ := wal.Segments(filepath.Join(dir, "log"))
	if len(segs) != 1 {
		t.Fatalf("segments after a snapshot and a close: %v, want only the one after it", segs)
	}

	d, s, l := open(t, Config{Dir: dir})
	defer d.Close()
	if l.Snapshot == "" || l.Sessions != 100 {
		t.Fatalf("loaded %+v, want a snapshot and 100 sessions", l)
	}
	if _, err := pget(s, late); !errors.Is(err, sessions.ErrNoPayload) {
		t.Fatalf("the session started after the snapshot: %v", err)
	}
	if !s.Ended(ids[0]) {
		t.Fatal("the end after the snapshot was lost")
	}
}

// A torn tail (killed mid-write) is cut and reported; damage in the middle stops the open
// with the file and offset.
func TestTornTailAndDamage(t *testing.T) {
	dir := t.TempDir()
	d, s, _ := open(t, Config{Dir: dir})
	id := newID(t, 5)
	do(t, s, sessions.Command{Kind: sessions.KindStart, ID: id, TTL: 3600})
	d.Close()
	entries, _ := os.ReadDir(filepath.Join(dir, "log"))
	last := filepath.Join(dir, "log", entries[len(entries)-1].Name())
	f, _ := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte{100, 0, 0, 0, 9, 9}) // a record header and two bytes of it
	f.Close()
	d, _, l := open(t, Config{Dir: dir})
	if l.Cut == nil || l.Sessions != 1 {
		t.Fatalf("loaded %+v, want the tail cut and the session kept", l)
	}
	d.Close()

	b, _ := os.ReadFile(last)
	b[10] ^= 0xff // inside the first record
	os.WriteFile(last, b, 0o600)
	_, _, _, err := Open(Config{Dir: dir, Logger: quiet()}, sessions.Config{})
	var dmg *wal.DamageError
	if !errors.As(err, &dmg) || dmg.File != last || !strings.Contains(err.Error(), "offset 0") {
		t.Fatalf("open of a damaged log: %v", err)
	}
}

// One directory, one process; files only its owner reads.
func TestLockAndPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	d, s, _ := open(t, Config{Dir: dir})
	defer d.Close()
	do(t, s, sessions.Command{Kind: sessions.KindStart, ID: newID(t, 1), TTL: 3600})
	if err := d.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := Open(Config{Dir: dir, Logger: quiet()}, sessions.Config{}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("a second open of a directory in use: %v", err)
	}
	filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", path, fi.Mode().Perm(), want)
		}
		return nil
	})
}

// An existing directory others may enter (a volume, a mkdir under umask 022) is closed to them.
func TestLooseDirectoryIsClosed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	d, _, _ := open(t, Config{Dir: dir})
	defer d.Close()
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode after open: %v %v", fi.Mode().Perm(), err)
	}
}

// flaky is a segment file whose writes fail while broken is set (a full disk).
type flaky struct {
	*os.File
	broken *atomic.Bool
}

func (f flaky) Write(b []byte) (int, error) {
	if f.broken.Load() {
		return 0, errors.New("no space left on device")
	}
	return f.File.Write(b)
}

// A change the log cannot take is refused, not acknowledged; the store keeps answering reads;
// once the disk takes writes again and a snapshot holds every change, changes are durable
// again and nothing was lost.
func TestFullDiskRefusesThenRecovers(t *testing.T) {
	dir := t.TempDir()
	var broken atomic.Bool
	d, s, _ := open(t, Config{Dir: dir, Create: func(path string) (wal.File, error) {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
		return flaky{f, &broken}, err
	}})
	ctx := context.Background()
	before, during := newID(t, 1), newID(t, 2)
	do(t, s, sessions.Command{Kind: sessions.KindStart, ID: before, TTL: 3600})
	if err := d.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	broken.Store(true)
	do(t, s, sessions.Command{Kind: sessions.KindStart, ID: during, TTL: 3600})
	if err := d.Wait(ctx); !errors.Is(err, ErrDisk) || !strings.HasPrefix(err.Error(), "MISCONF") {
		t.Fatalf("a change the disk refused was acknowledged: %v", err)
	}
	if d.Err() == nil || d.Stats().Err == nil {
		t.Fatal("Err is nil while the disk refuses writes")
	}
	if _, err := pget(s, before); !errors.Is(err, sessions.ErrNoPayload) {
		t.Fatalf("a read while the disk is full: %v", err)
	}
	broken.Store(false)
	deadline := time.Now().Add(30 * time.Second)
	for d.Err() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("still refused: %v", d.Err())
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.Close()
	d, s, _ = open(t, Config{Dir: dir})
	defer d.Close()
	for _, id := range []sessions.ID{before, during} {
		if _, err := pget(s, id); !errors.Is(err, sessions.ErrNoPayload) {
			t.Fatalf("session %v after the disk came back: %v", id, err)
		}
	}
}

// The members last recorded come back on Open, from the log or from a snapshot.
func TestMembersSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	d, _, l := open(t, Config{Dir: dir})
	if l.Members != nil {
		t.Fatalf("a new directory knows members %v", l.Members)
	}
	d.Members([]string{"n2", "n1", "n3"})
	d.Members([]string{"n1", "n2"})
	d.Close()
	d, _, l = open(t, Config{Dir: dir})
	if !slices.Equal(l.Members, []string{"n1", "n2"}) {
		t.Fatalf("members from the log: %v", l.Members)
	}
	if err := d.Snapshot(context.Background()); err != nil { // the log before it goes
		t.Fatal(err)
	}
	d.Close()
	d, _, l = open(t, Config{Dir: dir})
	defer d.Close()
	if !slices.Equal(l.Members, []string{"n1", "n2"}) {
		t.Fatalf("members from the snapshot: %v", l.Members)
	}
}

// A snapshot is written on its own once the log has grown past SnapshotMin (and past the
// last snapshot), and not again while it has not.
func TestSnapshotOnceTheLogHasGrown(t *testing.T) {
	t.Parallel()
	d, s, _ := open(t, Config{Dir: t.TempDir(), Sync: wal.SyncEverySec, SnapshotMin: 4 << 10})
	defer d.Close()
	for i := range 200 {
		do(t, s, sessions.Command{Kind: sessions.KindStart, ID: newID(t, i), TTL: 3600})
	}
	deadline := time.Now().Add(3 * snapshotCheck)
	for d.Stats().Snapshots == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no snapshot after the log grew by %d bytes", d.Stats().Log.Bytes)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(snapshotCheck + 1500*time.Millisecond) // the next check, with the log grown by clock records only
	if n := d.Stats().Snapshots; n != 1 {
		t.Fatalf("%d snapshots, want 1: the log had not grown past SnapshotMin again", n)
	}
}

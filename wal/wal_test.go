package wal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openLog(t *testing.T, cfg Config) *Log {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	cfg.Logger = quiet()
	l, err := Open(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func appendAll(t *testing.T, l *Log, recs ...string) Pos {
	t.Helper()
	var last Pos
	for _, r := range recs {
		pos, err := l.Append([]byte(r))
		if err != nil {
			t.Fatal(err)
		}
		if pos != last+1 && last != 0 {
			t.Fatalf("position %d after %d", pos, last)
		}
		last = pos
	}
	return last
}

func readAll(t *testing.T, dir string) ([]string, *Cut) {
	t.Helper()
	var got []string
	cut, err := Read(dir, 0, func(p []byte) error {
		got = append(got, string(p))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, cut
}

func records(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("record %03d", i)
	}
	return out
}

// Records come back in order across segments, and a record waited for is on disk.
func TestAppendWaitRead(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, Config{Dir: dir, SegmentSize: 100})
	want := records(50)
	for _, r := range want { // one write each: a write is never split across segments
		if err := l.Wait(context.Background(), appendAll(t, l, r)); err != nil {
			t.Fatal(err)
		}
	}
	if segs, _ := Segments(dir); len(segs) < 5 {
		t.Fatalf("%d segments of 100 bytes for 50 records of 18", len(segs))
	}
	got, cut := readAll(t, dir) // while open: what was waited for is in the files
	if cut != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("read %d records (cut %v), want %d", len(got), cut, len(want))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append([]byte("late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after Close: %v", err)
	}
	if _, err := l.Append(nil); err == nil {
		t.Fatal("an empty record was taken")
	}
}

// gatedFile holds every write until its gate is opened.
type gatedFile struct {
	*os.File
	gate chan struct{}
}

func (f gatedFile) Write(b []byte) (int, error) {
	<-f.gate
	return f.File.Write(b)
}

// Under everysec and no, a record counts as durable at once, without waiting for a write;
// the writer writes it soon after on its own, and Close writes what is left.
func TestLaterPoliciesDoNotWait(t *testing.T) {
	for _, s := range []Sync{SyncEverySec, SyncNo} {
		dir := t.TempDir()
		gate := make(chan struct{})
		create := func(path string) (File, error) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			return gatedFile{f, gate}, err
		}
		l := openLog(t, Config{Dir: dir, Sync: s, Create: create})
		pos := appendAll(t, l, "a", "b")
		called := false
		l.WhenDurable(pos, func(err error) { called = err == nil })
		if !called {
			t.Fatalf("%v: WhenDurable waited", s)
		}
		if err := l.Wait(context.Background(), pos); err != nil {
			t.Fatalf("%v: Wait: %v", s, err)
		}
		close(gate) // the writer, blocked meanwhile, writes them now, nobody asking
		deadline := time.Now().Add(10 * time.Second)
		for got, _ := readAll(t, dir); len(got) != 2; got, _ = readAll(t, dir) {
			if time.Now().After(deadline) {
				t.Fatalf("%v: %d records written without a waiter", s, len(got))
			}
			time.Sleep(10 * time.Millisecond)
		}
		appendAll(t, l, "c")
		l.Close()
		if got, _ := readAll(t, dir); len(got) != 3 {
			t.Fatalf("%v: %d records after Close", s, len(got))
		}
	}
}

// Many appenders at once: every record lands once, and each waiter hears of its own.
func TestConcurrentAppendersAllLand(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, Config{Dir: dir})
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				pos, err := l.Append([]byte(fmt.Sprintf("%02d-%02d", g, i)))
				if err == nil {
					err = l.Wait(context.Background(), pos)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got, _ := readAll(t, dir)
	seen := map[string]bool{}
	for _, r := range got {
		seen[r] = true
	}
	if len(got) != 800 || len(seen) != 800 {
		t.Fatalf("%d records read, %d distinct; want 800", len(got), len(seen))
	}
}

// A write cut short by a crash leaves a partial record at the end: Read cuts it and keeps
// every whole record before it.
func TestReadCutsATornTail(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, Config{Dir: dir})
	appendAll(t, l, records(10)...)
	l.Close()
	path := filepath.Join(dir, segmentName(1))
	whole, _ := os.Stat(path)
	// A record header promising more than follows, then a few bytes of it.
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte{200, 0, 0, 0, 1, 2, 3, 4, 'x', 'y'})
	f.Close()
	got, cut := readAll(t, dir)
	if len(got) != 10 || cut == nil || cut.Offset != whole.Size() || cut.Bytes != 10 {
		t.Fatalf("read %d records, cut %+v; want 10 and a cut at %d", len(got), cut, whole.Size())
	}
	if fi, _ := os.Stat(path); fi.Size() != whole.Size() {
		t.Fatalf("the file is %d bytes after the cut, want %d", fi.Size(), whole.Size())
	}
	if got, cut := readAll(t, dir); len(got) != 10 || cut != nil {
		t.Fatalf("second read: %d records, cut %v", len(got), cut)
	}
}

// A damaged record followed by intact ones, or in a segment before the last, is damage:
// Read names the file and offset and cuts nothing.
func TestReadRefusesDamageInTheMiddle(t *testing.T) {
	for _, seg := range []uint64{1, 0} { // 0: the last segment
		dir := t.TempDir()
		l := openLog(t, Config{Dir: dir, SegmentSize: 60})
		for _, r := range records(12) {
			l.Wait(context.Background(), appendAll(t, l, r))
		}
		l.Close()
		segs, _ := Segments(dir)
		if seg == 0 {
			seg = segs[len(segs)-1]
		}
		path := filepath.Join(dir, segmentName(seg))
		before, _ := os.ReadFile(path)
		if len(before) < 2*(headerSize+10) {
			t.Fatalf("segment %d holds %d bytes: want two records at least", seg, len(before))
		}
		b := append([]byte(nil), before...)
		b[headerSize+2] ^= 0xff // the first record's payload
		os.WriteFile(path, b, 0o600)
		_, err := Read(dir, 0, func([]byte) error { return nil })
		var dmg *DamageError
		if !errors.As(err, &dmg) || dmg.File != path || dmg.Offset != 0 {
			t.Fatalf("segment %d: %v, want damage at %s offset 0", seg, err, path)
		}
		if after, _ := os.ReadFile(path); len(after) != len(before) {
			t.Fatal("a damaged log was cut")
		}
	}
}

// failingFile fails its writes while broken is set, as a full disk does.
type failingFile struct {
	*os.File
	broken *atomic.Bool
	syncs  *atomic.Int64
}

func (f failingFile) Write(b []byte) (int, error) {
	if f.broken.Load() {
		n, _ := f.File.Write(b[:len(b)/2]) // part of it lands, as with ENOSPC
		return n, errors.New("no space left on device")
	}
	return f.File.Write(b)
}

func (f failingFile) Sync() error {
	f.syncs.Add(1)
	return f.File.Sync()
}

// A write that fails is refused to its waiter, and later records are refused at once; the
// log writes again when the disk does, and no half record stays in it.
func TestFailedWritesAreRefusedAndRecovered(t *testing.T) {
	dir := t.TempDir()
	var broken atomic.Bool
	var syncs atomic.Int64
	l := openLog(t, Config{Dir: dir, RetryEvery: 10 * time.Millisecond, Create: func(path string) (File, error) {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
		return failingFile{f, &broken, &syncs}, err
	}})
	ctx := context.Background()
	if err := l.Wait(ctx, appendAll(t, l, "before")); err != nil {
		t.Fatal(err)
	}
	broken.Store(true)
	pos := appendAll(t, l, "during")
	if err := l.Wait(ctx, pos); !errors.Is(err, ErrFailed) {
		t.Fatalf("a failed write was acknowledged: %v", err)
	}
	if _, err := l.Append([]byte("refused")); !errors.Is(err, ErrFailed) {
		t.Fatalf("append while failed: %v", err)
	}
	broken.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for l.Err() != nil {
		if time.Now().After(deadline) {
			t.Fatal("the log did not write again")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := l.Wait(ctx, appendAll(t, l, "after")); err != nil {
		t.Fatal(err)
	}
	l.Close()
	got, cut := readAll(t, dir)
	if fmt.Sprint(got) != "[before during after]" || cut != nil {
		t.Fatalf("read %q (cut %v)", got, cut)
	}
}

// Rotate starts a segment after everything appended so far; Remove drops the ones before.
func TestRotateAndRemove(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, Config{Dir: dir})
	appendAll(t, l, "a", "b")
	seg, err := l.Rotate(context.Background())
	if err != nil || seg != 2 {
		t.Fatalf("Rotate = %d, %v", seg, err)
	}
	appendAll(t, l, "c")
	if err := l.Remove(seg); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if got, _ := readAll(t, dir); fmt.Sprint(got) != "[c]" {
		t.Fatalf("after Remove: %q", got)
	}
}

func TestParseSync(t *testing.T) {
	for _, s := range []string{"always", "everysec", "no"} {
		p, err := ParseSync(s)
		if err != nil || p.String() != s {
			t.Fatalf("ParseSync(%q) = %v, %v", s, p, err)
		}
	}
	if _, err := ParseSync("sometimes"); err == nil {
		t.Fatal("ParseSync took sometimes")
	}
}

package disk

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/sessiongate/sessiongate/sessions"
	"github.com/sessiongate/sessiongate/wal"
)

// BenchmarkRestart times Open of a directory holding SG_BENCH_SESSIONS sessions (default
// 1,000,000), each started and given a 100-byte payload: once all in the log, once in a
// snapshot. It reports the bytes on disk and the sessions loaded. Run it alone:
//
//	go test -run xxx -bench Restart -benchtime 3x ./disk/
func BenchmarkRestart(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("SG_BENCH_SESSIONS")); err == nil && v > 0 {
		n = v
	}
	for _, form := range []string{"log", "snapshot"} {
		b.Run(fmt.Sprintf("%s/%d", form, n), func(b *testing.B) {
			dir := b.TempDir()
			fill(b, dir, n, form == "snapshot")
			size := dirSize(b, dir)
			b.ResetTimer()
			for range b.N {
				d, _, l, err := Open(Config{Dir: dir, Sync: wal.SyncNo, Logger: quiet()}, sessions.Config{})
				if err != nil {
					b.Fatal(err)
				}
				if l.Sessions != n {
					b.Fatalf("loaded %d sessions, want %d", l.Sessions, n)
				}
				b.StopTimer()
				d.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(size), "bytes-on-disk")
			b.ReportMetric(float64(size)/float64(n), "bytes/session")
		})
	}
}

// fill writes n sessions into a new directory, then snapshots it if asked.
func fill(b *testing.B, dir string, n int, snapshot bool) {
	d, s, _, err := Open(Config{Dir: dir, Sync: wal.SyncNo, Logger: quiet()}, sessions.Config{})
	if err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 100)
	for i := range payload {
		payload[i] = 'a' + byte(i%26)
	}
	for i := range n {
		id, err := sessions.NewID(rand.Reader, i%sessions.Slots)
		if err != nil {
			b.Fatal(err)
		}
		for _, cmd := range []sessions.Command{
			{Kind: sessions.KindStart, Tenant: tenant, ID: id, TTL: 3600},
			{Kind: sessions.KindPSet, Tenant: tenant, ID: id, Name: []byte("user"), Data: payload},
		} {
			if _, err := s.Do(&cmd); err != nil {
				b.Fatal(err)
			}
		}
	}
	if snapshot {
		if err := d.Snapshot(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	if err := d.Close(); err != nil {
		b.Fatal(err)
	}
}

func dirSize(b *testing.B, dir string) int64 {
	var size int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			size += fi.Size()
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return size
}

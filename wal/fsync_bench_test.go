package wal

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkFsync times one write followed by an fsync, the step every write of the log takes
// under SyncAlways, on the disk that holds the test's temporary directory. "append" writes
// past the end of a new file, as the log does: the fsync must also commit the file's new size
// and blocks. "overwrite" writes into a file already written and synced, so its fsync carries
// the data alone: what reusing old segments would give the log.
func BenchmarkFsync(b *testing.B) {
	for _, size := range []int{16 << 10, 64 << 10} {
		buf := make([]byte, size)
		for i := range buf {
			buf[i] = byte(i)
		}
		for _, mode := range []string{"append", "overwrite"} {
			b.Run(fmt.Sprintf("%s/%dKiB", mode, size>>10), func(b *testing.B) {
				path := filepath.Join(b.TempDir(), "f")
				f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				if mode == "overwrite" {
					for range b.N {
						if _, err := f.Write(buf); err != nil {
							b.Fatal(err)
						}
					}
					if err := f.Sync(); err != nil {
						b.Fatal(err)
					}
					if _, err := f.Seek(0, 0); err != nil {
						b.Fatal(err)
					}
				}
				b.SetBytes(int64(size))
				b.ResetTimer()
				for range b.N {
					if _, err := f.Write(buf); err != nil {
						b.Fatal(err)
					}
					if err := f.Sync(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

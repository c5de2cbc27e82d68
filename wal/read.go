package wal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// segmentName is the file name of segment n.
func segmentName(n uint64) string { return fmt.Sprintf("%016x.wal", n) }

// Segments lists the numbers of the segment files in dir, in order.
func Segments(dir string) ([]uint64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".wal")
		if !ok || len(name) != 16 {
			continue
		}
		n, err := strconv.ParseUint(name, 16, 64)
		if err != nil {
			continue
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

// Cut is the torn tail Read cut off the end of the log.
type Cut struct {
	File   string
	Offset int64 // where the file now ends
	Bytes  int64 // how many bytes were cut
}

// Read calls fn with the payload of every record of the segments numbered from on, in order;
// the payload is valid only until fn returns. A torn tail at the end of the last segment (a
// write the process did not finish) is cut off the file and reported. A damaged record
// anywhere else is a *DamageError, and nothing is cut.
func Read(dir string, from uint64, fn func(payload []byte) error) (*Cut, error) {
	segs, err := Segments(dir)
	if err != nil {
		return nil, err
	}
	for i, n := range segs {
		if n < from {
			continue
		}
		path := filepath.Join(dir, segmentName(n))
		err := readFile(path, fn)
		var dmg *DamageError
		if errors.As(err, &dmg) && i == len(segs)-1 {
			if torn, terr := tornAfter(path, dmg.Offset); terr != nil {
				return nil, terr
			} else if torn {
				return cutAt(path, dmg.Offset)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// ReadFile calls fn with every record of one file of records (a snapshot): any damage is an
// error.
func ReadFile(path string, fn func(payload []byte) error) error { return readFile(path, fn) }

// readFile reads the records of one file.
func readFile(path string, fn func(payload []byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var off int64
	var hdr [headerSize]byte
	var buf []byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err == io.EOF {
			return nil
		} else if err != nil {
			return &DamageError{File: path, Offset: off, Reason: "the file ends inside a record header"}
		}
		n := binary.LittleEndian.Uint32(hdr[:])
		if n == 0 || n > MaxRecord {
			return &DamageError{File: path, Offset: off, Reason: fmt.Sprintf("impossible record length %d", n)}
		}
		if cap(buf) < int(n) {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return &DamageError{File: path, Offset: off, Reason: "the file ends inside a record"}
		}
		if binary.LittleEndian.Uint32(hdr[4:]) != checksum(hdr[:4], buf) {
			return &DamageError{File: path, Offset: off, Reason: "checksum mismatch"}
		}
		if err := fn(buf); err != nil {
			return err
		}
		off += headerSize + int64(n)
	}
}

// tornAfter reports whether the bytes of path from off on hold no intact record: what a
// write cut short by a crash leaves. An intact record after a bad one means damage instead.
func tornAfter(path string, off int64) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	tail, err := io.ReadAll(io.NewSectionReader(f, off, 1<<62))
	if err != nil {
		return false, err
	}
	for i := 1; i < len(tail); i++ {
		if _, _, ok := parse(tail[i:]); ok {
			return false, nil
		}
	}
	return true, nil
}

// cutAt truncates path at off and syncs it.
func cutAt(path string, off int64) (*Cut, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := f.Truncate(off); err != nil {
		return nil, fmt.Errorf("cutting the torn tail of %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("cutting the torn tail of %s: %w", path, err)
	}
	return &Cut{File: path, Offset: off, Bytes: fi.Size() - off}, nil
}

//go:build unix

package disk

import (
	"errors"
	"os"
	"syscall"
)

// lockDir takes an exclusive lock on path (created 0600), so that two processes never write
// one data directory; the lock goes with the process.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errors.New("in use by another process")
		}
		return nil, err
	}
	return f, nil
}

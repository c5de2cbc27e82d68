//go:build !unix

package disk

import "os"

// lockDir opens the lock file; without flock, nothing stops a second process.
func lockDir(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
}

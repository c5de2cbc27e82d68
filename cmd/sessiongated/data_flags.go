package main

import (
	"flag"
	"fmt"

	"github.com/sessiongate/sessiongate/disk"
	"github.com/sessiongate/sessiongate/wal"
)

// dataFlags are the flags of the data directory.
type dataFlags struct {
	dir, fsync string
}

func (d *dataFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.dir, "data-dir", "", "keep the sessions in this directory across restarts (empty: memory only, no files)")
	fs.StringVar(&d.fsync, "fsync", "everysec", "when a write is on disk with --data-dir: always (before it is acknowledged, on every replica --write-acks counts), everysec (written within a millisecond, fsynced once a second: a crash of the machine loses about the last second) or no (written within a millisecond, fsynced when the OS decides)")
}

// config is the node's disk configuration, nil without --data-dir.
func (d *dataFlags) config() (*disk.Config, error) {
	sync, err := wal.ParseSync(d.fsync)
	if err != nil {
		return nil, fmt.Errorf("--fsync: %w", err)
	}
	if d.dir == "" {
		return nil, nil
	}
	return &disk.Config{Dir: d.dir, Sync: sync}, nil
}

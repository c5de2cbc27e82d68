package main

import (
	"bytes"
	"testing"

	"github.com/sessiongate/sessiongate/wal"
)

func TestDataFlags(t *testing.T) {
	o, err := parseFlags([]string{"--data-dir", "/var/lib/sessiongate", "--fsync", "always"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := o.data.config()
	if err != nil || cfg == nil || cfg.Dir != "/var/lib/sessiongate" || cfg.Sync != wal.SyncAlways {
		t.Fatalf("config = %+v, %v", cfg, err)
	}
	o, _ = parseFlags(nil, &bytes.Buffer{})
	if cfg, err := o.data.config(); cfg != nil || err != nil || o.data.fsync != "everysec" {
		t.Fatalf("without --data-dir: %+v, %v (fsync %q)", cfg, err, o.data.fsync)
	}
}

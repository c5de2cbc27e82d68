package main

import (
	"bytes"
	"strings"
	"testing"
)

// --maxmemory reads sizes as Redis's config does, from the flag or the environment, and
// refuses anything else with a clear error.
func TestMaxMemoryFlag(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1500000": 1500000, "100b": 100, "1k": 1000, "1kb": 1024, "100mb": 100 << 20,
		"100MB": 100 << 20, "2m": 2e6, "3g": 3e9, "2Gb": 2 << 30,
	} {
		var b byteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("%q: %d, %v; want %d", in, b, err, want)
		}
	}
	for _, in := range []string{"", "mb", "-1", "+1", "1.5gb", "10tb", "ten", "9223372036854775807kb"} {
		b := byteSize(7)
		if err := b.Set(in); err == nil || b != 7 {
			t.Errorf("%q accepted as %d", in, b)
		}
	}
	o, err := parseFlags([]string{"--maxmemory", "64mb"}, &bytes.Buffer{})
	if err != nil || o.maxMemory != 64<<20 {
		t.Fatalf("--maxmemory 64mb: %v %v", o, err)
	}
	t.Setenv("SESSIONGATE_MAXMEMORY", "1g")
	if o, err = parseFlags(nil, &bytes.Buffer{}); err != nil || o.maxMemory != 1e9 {
		t.Fatalf("SESSIONGATE_MAXMEMORY=1g: %v %v", o, err)
	}
	t.Setenv("SESSIONGATE_MAXMEMORY", "lots")
	if _, err = parseFlags(nil, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "SESSIONGATE_MAXMEMORY") {
		t.Fatalf("SESSIONGATE_MAXMEMORY=lots: %v", err)
	}
}

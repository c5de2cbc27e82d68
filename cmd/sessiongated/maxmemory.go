package main

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// byteSize is a flag holding a size in bytes, written as Redis's config writes one: a
// whole number with an optional unit, k/m/g for powers of 1000 and kb/mb/gb for powers of
// 1024, in any case ("100mb", "2gb", "1500000").
type byteSize int64

var errByteSize = errors.New("want a whole number of bytes with an optional unit: b, k, kb, m, mb, g or gb (as 100mb)")

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30},
	{"k", 1e3}, {"m", 1e6}, {"g", 1e9}, {"b", 1},
}

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

// Set parses a size; bad input leaves b as it was.
func (b *byteSize) Set(s string) error {
	s = strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range byteUnits {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = rest, u.mult
			break
		}
	}
	if s == "" || s[0] < '0' || s[0] > '9' {
		return errByteSize
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return errByteSize
	}
	*b = byteSize(n * mult)
	return nil
}

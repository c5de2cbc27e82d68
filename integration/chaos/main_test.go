package main

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseFlagsDefaults(t *testing.T) {
	c, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Duration != 3*time.Minute || c.ComposeFile != "docker-compose.yml" || c.Project != "" ||
		len(c.Faults) != len(faultKinds)-1 || slices.Contains(c.Faults, killAll) || !c.DataFaults ||
		c.Seed == 0 || c.Settle < time.Minute {
		t.Fatalf("defaults %+v", c)
	}
}

func TestParseFlagsChoosesFaults(t *testing.T) {
	c, err := parseFlags([]string{"--faults", "kill, pause+isolate", "--seed", "42", "--project", "p"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Faults, ",") != "kill,pause+isolate" || c.Seed != 42 || c.Project != "p" {
		t.Fatalf("parsed %+v", c)
	}
}

func TestParseFlagsRefuses(t *testing.T) {
	for _, args := range [][]string{
		{"--faults", "flood"},
		{"--faults", ","},
		{"--clients", "0"},
		{"--rate", "-1"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

func TestInfoCounter(t *testing.T) {
	info := "# sessions\r\nsessions:3\r\ncommands_forwarded:12\r\ncopy_reads:7\r\n"
	if got := infoCounter(info, "copy_reads"); got != 7 {
		t.Fatalf("copy_reads %d", got)
	}
	if got := infoCounter(info, "commands_forwarded"); got != 12 {
		t.Fatalf("commands_forwarded %d", got)
	}
	if got := infoCounter(info, "missing"); got != 0 {
		t.Fatalf("missing %d", got)
	}
}

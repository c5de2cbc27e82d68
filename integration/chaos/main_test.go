package main

import (
	"io"
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
		len(c.Faults) != len(faultKinds) || c.Seed == 0 || c.Settle < time.Minute {
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

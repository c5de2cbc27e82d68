package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestFlagsAndEnvironment(t *testing.T) {
	o, err := parseFlags(nil, &bytes.Buffer{})
	if err != nil || o.addr != "127.0.0.1:6380" || o.replicas != 3 || o.partitions != 256 || o.writeAcks != "majority" {
		t.Fatalf("defaults: %+v %v", o, err)
	}
	t.Setenv("SESSIONGATE_ADDR", "127.0.0.1:7000")
	t.Setenv("SESSIONGATE_WRITE_ACKS", "all")
	o, err = parseFlags([]string{"--write-acks", "one"}, &bytes.Buffer{})
	if err != nil || o.addr != "127.0.0.1:7000" || o.writeAcks != "one" {
		t.Fatalf("env then flag: %+v %v", o, err)
	}
	t.Setenv("SESSIONGATE_REPLICAS", "many")
	if _, err := parseFlags(nil, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "SESSIONGATE_REPLICAS") {
		t.Fatalf("bad env value: %v", err)
	}
}

func TestHelpListsEveryFlagWithItsVariable(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"--help"}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--addr", "SESSIONGATE_ADDR", "--cluster-addr", "SESSIONGATE_CLUSTER_ADDR", "--gossip-key", "--http-apps", "SESSIONGATE_HTTP_APPS"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %s", want)
		}
	}
}

func TestBadConfigurationIsRefused(t *testing.T) {
	for _, args := range [][]string{
		{"--cluster-addr", "127.0.0.1:0", "--write-acks", "some"},
		{"--cluster-addr", "127.0.0.1:0", "--partitions", "5000"},
		{"--cluster-addr", "127.0.0.1:0", "--gossip-key", "short"},
		{"--cluster-addr", "127.0.0.1:0", "--gossip-profile", "wan"},
		{"--log-level", "loud"},
		{"--fsync", "sometimes"},
		{"--data-dir", "/proc/no-such-place/data"},
		{"--http-addr", "127.0.0.1:0", "--http-apps", "novalue"},
		{"extra"},
	} {
		if err := run(append([]string{"--addr", "127.0.0.1:0"}, args...), &bytes.Buffer{}); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	apps, err := parseApps("a=k1, b=k2")
	if err != nil || string(apps["a"]) != "k1" || string(apps["b"]) != "k2" {
		t.Fatalf("parseApps: %v %v", apps, err)
	}
}

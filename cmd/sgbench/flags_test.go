package main

import (
	"errors"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestFlagDefaults(t *testing.T) {
	cfg, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Addrs: []string{"127.0.0.1:6380"}, Spread: "all", Workload: "read", Conns: 8, Pipeline: 1,
		Payload: 100, Duration: 10 * time.Second, Sessions: 10000, ReadRatio: 0.9,
		SignKey: "sgbench-key", TTL: 3600, Seed: 1, Timeout: 10 * time.Second, Rounds: 1, Baseline: "redis",
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got  %+v\nwant %+v", cfg, want)
	}
}

func TestFlagValues(t *testing.T) {
	cfg, err := parseFlags(strings.Fields("--addr a:1,b:2,,c:3 --spread first --workload extended --redis "+
		"--conns 50 --pipeline 16 --payload 1000 --ops 5000 --rate 20000 --sessions 7 --skew 0.99 "+
		"--read-ratio 0.5 --sign-key s --ttl 30 --seed 9 --timeout 1s --password pw --json"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Addrs: []string{"a:1", "b:2", "c:3"}, Spread: "first", Workload: "extended", Redis: true,
		Conns: 50, Pipeline: 16, Payload: 1000, Ops: 5000, Rate: 20000, Sessions: 7, Skew: 0.99,
		ReadRatio: 0.5, SignKey: "s", TTL: 30, Seed: 9, Timeout: time.Second, Password: "pw", JSON: true, Rounds: 1, Baseline: "redis",
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got  %+v\nwant %+v", cfg, want)
	}
}

func TestOpsAloneRunsUntilDone(t *testing.T) {
	cfg, err := parseFlags([]string{"--ops", "10"}, io.Discard)
	if err != nil || cfg.Duration != 0 {
		t.Fatalf("--ops alone must drop the default duration: %v %v", cfg, err)
	}
	cfg, err = parseFlags([]string{"--ops", "10", "--duration", "3s"}, io.Discard)
	if err != nil || cfg.Duration != 3*time.Second || cfg.Ops != 10 {
		t.Fatalf("both given: %+v %v", cfg, err)
	}
}

func TestCompareFlag(t *testing.T) {
	cfg, err := parseFlags([]string{"--compare", "127.0.0.1:6380,127.0.0.1:6379"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Compare, []string{"127.0.0.1:6380", "127.0.0.1:6379"}) {
		t.Fatalf("%q", cfg.Compare)
	}
}

func TestBadFlags(t *testing.T) {
	for args, want := range map[string]string{
		"--addr ,":                          "--addr is empty",
		"--addr nohost":                     "address \"nohost\"",
		"--spread some":                     "--spread",
		"--workload write":                  "--workload",
		"--conns 0":                         "--conns",
		"--pipeline 0":                      "--pipeline",
		"--pipeline 10001":                  "--pipeline",
		"--payload 0":                       "--payload",
		"--payload 8000001":                 "--payload",
		"--duration -1s":                    "--duration",
		"--ops -1":                          "--ops",
		"--duration 0":                      "give --duration or --ops",
		"--rate -5":                         "--rate",
		"--rate NaN":                        "--rate",
		"--rate 0.0001":                     "below one request",
		"--sessions 0":                      "--sessions",
		"--skew -1":                         "--skew",
		"--skew +Inf":                       "--skew",
		"--read-ratio 1.5":                  "--read-ratio",
		"--sign-key=":                       "--sign-key",
		"--ttl 0":                           "--ttl",
		"--ttl 3153600001":                  "--ttl",
		"--timeout 0s":                      "--timeout",
		"--rounds 0":                        "--rounds",
		"--rounds 3":                        "--rounds needs --compare",
		"--compare a:1":                     "--compare wants SG_ADDR,BASELINE_ADDR",
		"--compare a:1,b:2,c:3":             "--compare wants",
		"--compare a:1,b:2 --redis":         "drop --addr and --redis",
		"--compare a:1,b:2 --addr c:3":      "drop --addr",
		"--conns":                           "flag needs an argument",
		"--nope":                            "not defined",
		"extra":                             "unexpected argument",
		"--conns x":                         "invalid value",
		"--workload read --pipeline -3":     "--pipeline",
		"--server-pids abc":                 "--server-pids",
		"--server-pids 0":                   "--server-pids",
		"--server-pids 1 --compare a:1,b:2": "--server-pids",
	} {
		_, err := parseFlags(strings.Fields(args), io.Discard)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error mentioning %q", args, err, want)
		}
	}
}

func TestHelpExitsCleanly(t *testing.T) {
	_, err := parseFlags([]string{"--help"}, io.Discard)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	code, _, stderr := runMain(t, "--help")
	if code != 0 || !strings.Contains(stderr, "Workloads:") || !strings.Contains(stderr, "-pipeline") {
		t.Fatalf("exit %d, help:\n%s", code, stderr)
	}
	if code, _, stderr := runMain(t, "--conns", "0"); code != exitUsage || !strings.Contains(stderr, "--conns") {
		t.Fatalf("bad flag: exit %d, %s", code, stderr)
	}
}

func TestPasswordFromTheEnvironment(t *testing.T) {
	t.Setenv(passwordEnv, "from-env")
	cfg, err := parseFlags(nil, io.Discard)
	if err != nil || cfg.Password != "from-env" {
		t.Fatalf("password %q, %v; want it from %s", cfg.Password, err, passwordEnv)
	}
	cfg, err = parseFlags([]string{"--password", "flag"}, io.Discard)
	if err != nil || cfg.Password != "flag" {
		t.Fatalf("password %q, %v; the flag wins", cfg.Password, err)
	}
}

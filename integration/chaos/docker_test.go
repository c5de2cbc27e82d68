package main

import (
	"strings"
	"testing"
)

const inspectOK = `[{
  "Id": "5b1be6d138a3f00d",
  "State": {"Running": true, "Paused": false},
  "NetworkSettings": {
    "Networks": {"sgchaos_sessiongate": {"IPAddress": "10.213.57.13",
      "IPAMConfig": {"IPv4Address": "10.213.57.13"}, "Aliases": ["5b1be6d138a3", "n3"]}},
    "Ports": {"6380/tcp": [{"HostIp": "0.0.0.0", "HostPort": "6383"}], "7946/tcp": null}
  }
}]`

func TestParseInspect(t *testing.T) {
	c, err := parseInspect([]byte(inspectOK))
	if err != nil {
		t.Fatal(err)
	}
	if c.id != "5b1be6d138a3f00d" || c.network != "sgchaos_sessiongate" || c.ip != "10.213.57.13" ||
		c.addr != "127.0.0.1:6383" || len(c.aliases) != 2 || c.data {
		t.Fatalf("parsed %+v", c)
	}
	withData := strings.Replace(inspectOK, `"State"`, `"Config": {"Env": ["PATH=/", "SESSIONGATE_DATA_DIR=/data"]}, "State"`, 1)
	if c, err := parseInspect([]byte(withData)); err != nil || !c.data {
		t.Fatalf("a node with SESSIONGATE_DATA_DIR: data %v, %v", c.data, err)
	}
}

func TestParseInspectRefusesWhatTheNemesisCannotUse(t *testing.T) {
	cases := map[string]string{
		"no fixed address":   strings.Replace(inspectOK, `"IPAMConfig": {"IPv4Address": "10.213.57.13"}`, `"IPAMConfig": null`, 1),
		"port not published": strings.Replace(inspectOK, `"6380/tcp"`, `"6390/tcp"`, 1),
		"two networks": strings.Replace(inspectOK, `"Networks": {`,
			`"Networks": {"other": {"IPAddress": "172.18.0.2", "IPAMConfig": {"IPv4Address": "172.18.0.2"}},`, 1),
		"not json": "Error: No such object",
	}
	for name, raw := range cases {
		if _, err := parseInspect([]byte(raw)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSplitKind(t *testing.T) {
	if got := splitKind("kill+isolate"); len(got) != 2 || got[0] != "kill" || got[1] != "isolate" {
		t.Fatalf("splitKind(kill+isolate) = %v", got)
	}
	if got := splitKind("pause"); len(got) != 1 || got[0] != "pause" {
		t.Fatalf("splitKind(pause) = %v", got)
	}
}

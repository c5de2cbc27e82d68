package sessions

import (
	"testing"
	"time"
)

// A describing INFO is one read that carries the payloads, the absolute deadline and the
// access before it; a quiet one changes nothing.
func TestDescribeIsOneReadWithPayloadsAndThePreviousAccess(t *testing.T) {
	s, clock := newTestStore()
	id := start(t, s, tenantA, 60)
	created := clock.Now().UnixMilli()
	do(t, s, Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte("user"), Data: []byte("ada")})
	clock.Advance(3 * time.Second)

	res := do(t, s, Command{Kind: KindInfo, Tenant: tenantA, ID: id, Limit: DescribePayloads})
	if res.Info.Reads != 1 || res.Info.LastSeen != created || res.Int != created+60_000 ||
		len(res.Fields) != 1 || string(res.Fields[0].Data) != "ada" {
		t.Fatalf("describe: info %+v int %d fields %v", res.Info, res.Int, res.Fields)
	}
	clock.Advance(2 * time.Second)
	quiet := do(t, s, Command{Kind: KindInfo, Tenant: tenantA, ID: id, Limit: DescribePayloads | DescribeQuietly})
	if quiet.Info.Reads != 1 || quiet.Info.LastSeen != created+3000 || len(quiet.Fields) != 1 {
		t.Fatalf("quiet describe: %+v %v", quiet.Info, quiet.Fields)
	}
	plain := do(t, s, Command{Kind: KindInfo, Tenant: tenantA, ID: id})
	if plain.Info.Reads != 2 || plain.Info.LastSeen != clock.Now().UnixMilli() || plain.Fields != nil || plain.Int != 0 {
		t.Fatalf("plain INFO changed: %+v %v %d", plain.Info, plain.Fields, plain.Int)
	}
}

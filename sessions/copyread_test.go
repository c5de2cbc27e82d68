package sessions

import (
	"testing"
	"time"
)

func TestReadCopyAnswersHitsAndChangesNothing(t *testing.T) {
	s, clock := newTestStore()
	id := start(t, s, tenantA, 60)
	do(t, s, Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte("user"), Data: []byte("ada")})
	before := do(t, s, Command{Kind: KindInfo, Tenant: tenantA, ID: id}).Info
	clock.Advance(5 * time.Second)

	res, ok := s.ReadCopy(&Command{Kind: KindPGet, Tenant: tenantA, ID: id, Name: []byte("user")})
	if !ok || string(res.Data) != "ada" {
		t.Fatalf("PGET: ok %v data %q", ok, res.Data)
	}
	res, ok = s.ReadCopy(&Command{Kind: KindPGetAll, Tenant: tenantA, ID: id})
	if !ok || len(res.Fields) != 1 || string(res.Fields[0].Data) != "ada" {
		t.Fatalf("PGETALL: ok %v fields %v", ok, res.Fields)
	}
	res, ok = s.ReadCopy(&Command{Kind: KindTTL, Tenant: tenantA, ID: id})
	if !ok || res.Int != 55 {
		t.Fatalf("TTL: ok %v %d, want 55", ok, res.Int)
	}
	// INFO taken before the copy reads must not show them: only the primary counts reads.
	after := do(t, s, Command{Kind: KindInfo, Tenant: tenantA, ID: id}).Info
	if after.Reads != before.Reads+1 || after.LastSeen != clock.Now().UnixMilli() {
		t.Fatalf("reads %d -> %d: ReadCopy counted reads", before.Reads, after.Reads)
	}
}

func TestReadCopyLeavesEverythingElseToThePrimary(t *testing.T) {
	s, _ := newTestStore()
	id := start(t, s, tenantA, 60)
	do(t, s, Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte("user"), Data: []byte("ada")})
	idle := mustID(t, -1)
	do(t, s, Command{Kind: KindStart, Tenant: tenantA, ID: idle, TTL: 60, Idle: 30})
	do(t, s, Command{Kind: KindPSet, Tenant: tenantA, ID: idle, Name: []byte("user"), Data: []byte("bob")})
	ended := start(t, s, tenantA, 60)
	do(t, s, Command{Kind: KindEnd, Tenant: tenantA, ID: ended})
	for name, cmd := range map[string]Command{
		"missing payload": {Kind: KindPGet, Tenant: tenantA, ID: id, Name: []byte("none")},
		"bad name":        {Kind: KindPGet, Tenant: tenantA, ID: id, Name: []byte("")},
		"other tenant":    {Kind: KindPGet, Tenant: tenantB, ID: id, Name: []byte("user")},
		"unknown session": {Kind: KindPGet, Tenant: tenantA, ID: mustID(t, -1), Name: []byte("user")},
		"ended session":   {Kind: KindPGet, Tenant: tenantA, ID: ended, Name: []byte("user")},
		"idle session":    {Kind: KindPGet, Tenant: tenantA, ID: idle, Name: []byte("user")},
		"INFO":            {Kind: KindInfo, Tenant: tenantA, ID: id},
		"PSET":            {Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte("user"), Data: []byte("x")},
	} {
		if _, ok := s.ReadCopy(&cmd); ok {
			t.Errorf("%s: answered from the copy", name)
		}
	}
	if got := do(t, s, Command{Kind: KindPGet, Tenant: tenantA, ID: id, Name: []byte("user")}); string(got.Data) != "ada" {
		t.Fatalf("the PSET offered to ReadCopy ran: %q", got.Data)
	}
}

func TestTouchCountsReadsOnThePrimary(t *testing.T) {
	s, clock := newTestStore()
	id := start(t, s, tenantA, 60)
	before := do(t, s, Command{Kind: KindInfo, Tenant: tenantA, ID: id}).Info
	clock.Advance(3 * time.Second)
	at := clock.Now().UnixMilli()
	s.Touch(id, at, 4)
	s.Touch(id, at-1000, 1) // an older touch does not move last-seen back
	s.Touch(mustID(t, -1), at, 1)
	if seen := s.shard(id.Slot()).live.get(id).lastSeen; seen != at {
		t.Fatalf("last seen %d, want %d", seen, at)
	}
	after := do(t, s, Command{Kind: KindInfo, Tenant: tenantA, ID: id}).Info
	if after.Reads != before.Reads+5+1 {
		t.Fatalf("reads %d -> %d, want +6 (5 touched, 1 INFO)", before.Reads, after.Reads)
	}
}

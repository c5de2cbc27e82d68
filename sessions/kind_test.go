package sessions

import "testing"

// TestCommandTableIsConsistent checks the rules the cluster relies on when it reads the table.
func TestCommandTableIsConsistent(t *testing.T) {
	names := map[string]bool{}
	for _, k := range Kinds() {
		tr := k.Traits()
		switch {
		case tr.Name == "" || names[tr.Name]:
			t.Errorf("%d: missing or repeated name %q", k, tr.Name)
		case tr.Read && tr.Write:
			t.Errorf("%v: both a read and a write", k)
		case (tr.CopyRead || tr.Touches) && !tr.Read:
			t.Errorf("%v: answered from a copy or touching, but not a read", k)
		case tr.Scatter && tr.OwnerScoped:
			t.Errorf("%v: scatter and owner-scoped", k)
		case tr.Once && !tr.Write:
			t.Errorf("%v: a read cannot be unsafe to retry", k)
		}
		names[tr.Name] = true
	}
	if len(names) != int(KindActive) {
		t.Fatalf("table has %d kinds, want %d", len(names), KindActive)
	}
	if got := Kind(0).String(); got != "kind(0)" {
		t.Errorf("unknown kind named %q", got)
	}
	if Kind(200).Traits() != (Traits{}) {
		t.Error("kind out of the table has traits")
	}
}

// TestReadKindsChangeNothing runs every kind the table calls a read against a live session:
// none may produce ops, since the cluster never replicates what a read does.
func TestReadKindsChangeNothing(t *testing.T) {
	s, _ := newTestStore()
	id := start(t, s, tenantA, 60)
	do(t, s, Command{Kind: KindPSet, Tenant: tenantA, ID: id, Name: []byte("n"), Data: []byte("v")})
	reads := 0
	for _, k := range Kinds() {
		if !k.Traits().Read {
			continue
		}
		reads++
		res, err := s.Do(&Command{Kind: k, Tenant: tenantA, ID: id, Name: []byte("n")})
		if err != nil || len(res.Ops) > 0 {
			t.Errorf("%v: err %v, %d ops", k, err, len(res.Ops))
		}
	}
	if reads != 4 {
		t.Fatalf("%d read kinds, want 4", reads)
	}
}

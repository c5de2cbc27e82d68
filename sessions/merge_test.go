package sessions

import "testing"

// The parts of a tenant-wide command merge into one answer: counts add up, and ACTIVE keeps
// the most recently seen sessions of all parts, within its limit.
func TestMergeScatterParts(t *testing.T) {
	ended := Merge(&Command{Kind: KindEndAll}, []Result{{Int: 2}, {Int: 0}, {Int: 5}})
	if ended.Int != 7 || len(ended.Sessions) != 0 {
		t.Fatalf("ENDALL parts merged to %+v", ended)
	}
	info := func(b byte, seen int64) Info { return Info{ID: ID{b}, LastSeen: seen} }
	parts := []Result{
		{Int: 2, Sessions: []Info{info(1, 10), info(2, 40)}},
		{Int: 2, Sessions: []Info{info(3, 30), info(4, 20)}},
		{Int: 1, Sessions: []Info{info(5, 40)}},
	}
	active := Merge(&Command{Kind: KindActive, Limit: 3}, parts)
	var got []byte
	for _, s := range active.Sessions {
		got = append(got, s.ID[0])
	}
	if active.Int != 5 || string(got) != string([]byte{2, 5, 3}) {
		t.Fatalf("ACTIVE limit 3: count %d, ids %v; want 5 and [2 5 3]", active.Int, got)
	}
	if all := Merge(&Command{Kind: KindActive}, parts); len(all.Sessions) != 5 {
		t.Fatalf("ACTIVE without a limit kept %d of 5", len(all.Sessions))
	}
}

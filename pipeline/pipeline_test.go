package pipeline

import (
	"crypto/rand"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/sessiongate/sessiongate/sessions"
)

// cmd is a command of the given kind on a session of the given slot.
func cmd(t *testing.T, kind sessions.Kind, slot int) *sessions.Command {
	t.Helper()
	id, err := sessions.NewID(rand.Reader, slot)
	if err != nil {
		t.Fatal(err)
	}
	return &sessions.Command{Kind: kind, ID: id}
}

func TestSplit(t *testing.T) {
	get, set, all := sessions.KindPGet, sessions.KindPSet, sessions.KindEndAll
	type c struct {
		kind sessions.Kind
		slot int
		dest Dest
	}
	here, b, copyB := Dest{Node: "a"}, Dest{Node: "b"}, Dest{Node: "b", CopyRead: true}
	for _, tc := range []struct {
		name string
		cmds []c
		want Plan
	}{
		{"all mine", []c{{set, 1, here}, {get, 2, here}},
			Plan{Mine: []int{0, 1}, Local: []int{0, 1}, Remote: map[string][]int{}}},
		{"a copy read stays here", []c{{get, 1, copyB}, {set, 2, b}},
			Plan{Here: []int{0}, Local: []int{0}, Remote: map[string][]int{"b": {1}}}},
		{"a copy read follows a write on its slot", []c{{set, 1, b}, {get, 1, copyB}, {get, 2, copyB}},
			Plan{Here: []int{2}, Local: []int{2}, Remote: map[string][]int{"b": {0, 1}}}},
		{"tenant-wide runs here, not grouped", []c{{all, 0, here}, {set, 3, here}, {set, 4, Dest{Node: "c"}}},
			Plan{Mine: []int{1}, Here: []int{0}, Local: []int{0, 1}, Remote: map[string][]int{"c": {2}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cmds []*sessions.Command
			var dest []Dest
			var idx []int
			for i, x := range tc.cmds {
				cmds = append(cmds, cmd(t, x.kind, x.slot))
				dest = append(dest, x.dest)
				idx = append(idx, i)
			}
			if got := Split("a", cmds, idx, dest); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Split = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestChains(t *testing.T) {
	kinds := []sessions.Kind{sessions.KindPSet, sessions.KindPGet, sessions.KindEndAll, sessions.KindPSet, sessions.KindPGet, sessions.KindEndAll}
	slots := []int{5, 7, 0, 5, 7, 0}
	cmds := make([]*sessions.Command, len(kinds))
	for i := range kinds {
		cmds[i] = cmd(t, kinds[i], slots[i])
	}
	got := Chains(cmds, []int{0, 1, 2, 3, 4, 5})
	want := [][]int{{0, 3}, {1, 4}, {2}, {5}} // by slot in order; each tenant-wide alone
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Chains = %v, want %v", got, want)
	}
	if got := Chains(cmds, []int{4, 1}); !reflect.DeepEqual(got, [][]int{{4, 1}}) {
		t.Fatalf("Chains keeps the order given: %v", got)
	}
}

func TestChunks(t *testing.T) {
	small := cmd(t, sessions.KindPGet, 1)
	big := cmd(t, sessions.KindPSet, 1)
	big.Data = []byte(strings.Repeat("x", MaxBytes/2))
	for _, tc := range []struct {
		cmds []*sessions.Command
		want []int // chunk lengths
	}{
		{repeat(small, 1), []int{1}},
		{repeat(small, MaxCmds), []int{MaxCmds}},
		{repeat(small, 2*MaxCmds+1), []int{MaxCmds, MaxCmds, 1}},
		{repeat(big, 5), []int{2, 2, 1}}, // about MaxBytes: the command that crosses it is the last
		{[]*sessions.Command{big, big, big, big, small}, []int{2, 2, 1}},
	} {
		idx := make([]int, len(tc.cmds))
		for i := range idx {
			idx[i] = i
		}
		var lens []int
		next := 0
		for _, ch := range Chunks(tc.cmds, idx) {
			lens = append(lens, len(ch))
			for _, i := range ch {
				if i != next {
					t.Fatalf("chunks out of order: %d where %d was due", i, next)
				}
				next++
			}
		}
		if fmt.Sprint(lens) != fmt.Sprint(tc.want) {
			t.Errorf("%d commands: chunks of %v, want %v", len(tc.cmds), lens, tc.want)
		}
	}
}

func repeat(c *sessions.Command, n int) []*sessions.Command {
	out := make([]*sessions.Command, n)
	for i := range out {
		out[i] = c
	}
	return out
}

func TestSlotSet(t *testing.T) {
	var s SlotSet
	for _, slot := range []int{0, 63, 64, sessions.Slots - 1} {
		if s.Has(slot) {
			t.Fatalf("slot %d in an empty set", slot)
		}
		s.Add(slot)
		if !s.Has(slot) {
			t.Fatalf("slot %d missing after Add", slot)
		}
	}
	if s.Has(1) || s.Has(65) {
		t.Fatal("a slot never added is in the set")
	}
}

// Package pipeline plans how a node runs a pipeline of commands: which run here and which
// go to which primary, in which chains their order holds, in which messages they travel.
// It decides and runs nothing; the node carries its plans out.
//
// The one rule every plan keeps: commands on the same slot run one after another in the
// order the client sent them. Commands on different slots may run concurrently.
package pipeline

import (
	"github.com/sessiongate/sessiongate/sessions"
)

// Limits of one forwarded batch. A pipeline bigger than this to one primary goes in several
// messages, one after another, so a frame stays far below the transport's frame limit and
// commands on one slot keep their order across messages.
const (
	MaxCmds  = 256
	MaxBytes = 1 << 20
)

// SlotSet is a set of slots that lives on the stack.
type SlotSet [(sessions.Slots + 63) / 64]uint64

// Add puts slot in the set.
func (s *SlotSet) Add(slot int) { s[slot/64] |= 1 << (slot % 64) }

// Has reports whether slot is in the set.
func (s *SlotSet) Has(slot int) bool { return s[slot/64]&(1<<(slot%64)) != 0 }

// Dest is where one command would run on its own: on Node (its primary, or this node for a
// tenant-wide command), or here from this node's copy when CopyRead.
type Dest struct {
	Node     string
	CopyRead bool
}

// Plan is where a pipeline's commands run, each list in the pipeline's order.
type Plan struct {
	Mine   []int            // here, as their primary, with nothing tenant-wide among them
	Here   []int            // here otherwise: copy reads and tenant-wide commands
	Local  []int            // Mine and Here together
	Remote map[string][]int // on another primary, by its name
}

// Split plans the commands at idx, whose destinations dest holds (by command index), on the
// node self. A copy read goes to its primary after all when another command on its slot
// does, so that their order holds.
func Split(self string, cmds []*sessions.Command, idx []int, dest []Dest) Plan {
	var remoteSlots SlotSet
	for _, i := range idx {
		if d := dest[i]; d.Node != self && !d.CopyRead {
			remoteSlots.Add(cmds[i].Slot())
		}
	}
	plan := Plan{Remote: map[string][]int{}}
	for _, i := range idx {
		d, cmd := dest[i], cmds[i]
		switch {
		case d.Node == self && !cmd.Kind.IsScatter():
			plan.Mine = append(plan.Mine, i)
		case d.Node == self || d.CopyRead && !remoteSlots.Has(cmd.Slot()):
			plan.Here = append(plan.Here, i)
		default:
			plan.Remote[d.Node] = append(plan.Remote[d.Node], i)
			continue
		}
		plan.Local = append(plan.Local, i)
	}
	return plan
}

// Chains groups the commands at idx into chains that must run one after another, each in
// the order given, the chains in the order of their first command: one chain per slot, and
// one for each tenant-wide command (it touches every slot).
func Chains(cmds []*sessions.Command, idx []int) [][]int {
	at := map[int]int{} // slot -> index in chains
	var chains [][]int
	for _, i := range idx {
		s := cmds[i].Slot()
		if cmds[i].Kind.IsScatter() {
			s = -1 - i
		}
		k, ok := at[s]
		if !ok {
			k = len(chains)
			at[s] = k
			chains = append(chains, nil)
		}
		chains[k] = append(chains[k], i)
	}
	return chains
}

// Chunks splits the commands at idx into messages of at most MaxCmds commands and about
// MaxBytes each, in order.
func Chunks(cmds []*sessions.Command, idx []int) [][]int {
	var out [][]int
	for len(idx) > 0 {
		n, size := 0, 0
		for n < len(idx) && n < MaxCmds && (n == 0 || size < MaxBytes) {
			size += Size(cmds[idx[n]])
			n++
		}
		out = append(out, idx[:n:n])
		idx = idx[n:]
	}
	return out
}

// Size estimates a command's encoded size.
func Size(cmd *sessions.Command) int {
	n := 64 + len(cmd.Name) + len(cmd.Data) + len(cmd.Owner) + len(cmd.IP) + len(cmd.UA)
	for _, u := range cmd.Updates {
		n += 8 + len(u.Name) + len(u.Data)
	}
	return n
}

package sessions

import "time"

// Journal hears of the store's changes, each after it is made and outside the store's
// locks: the ops of every command that wrote (Do), of every op merged (Apply), of the idle
// expiries Sweep made, and every slot dropped. Replaying the ops with Apply, and the drops
// with DropSlot, in the order heard rebuilds the store, but for last-seen times of reads
// and expiries, which the deadlines the ops carry decide again.
type Journal interface {
	Ops(ops []Op)
	Dropped(slot int)
}

// ApplyAll is Apply for each of ops, in order.
func (s *Store) ApplyAll(ops []Op) {
	for i := range ops {
		s.apply(&ops[i])
	}
	if s.journal != nil && len(ops) > 0 {
		s.journal.Ops(ops)
	}
}

// TombstoneTTL is how long ended ids are remembered past their last possible deadline.
func (s *Store) TombstoneTTL() time.Duration { return time.Duration(s.tombTTL) * time.Millisecond }

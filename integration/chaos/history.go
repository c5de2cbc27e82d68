package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"
)

// errorTable interns error texts with their numbers masked, so that the report can say
// which errors each fault produced.
type errorTable struct {
	mu    sync.Mutex
	index map[string]uint16
	texts []string
}

func newErrorTable() *errorTable {
	return &errorTable{index: map[string]uint16{}, texts: []string{""}}
}

// intern returns err's number; answers that are data (no such session or payload, when
// the operation counts as acknowledged) are not errors.
func (t *errorTable) intern(err error, out outcome) uint16 {
	if err == nil || out == acked {
		return 0
	}
	b := []byte(err.Error())
	for i, c := range b {
		if c >= '0' && c <= '9' {
			b[i] = '#'
		}
	}
	msg := string(b[:min(len(b), 90)])
	t.mu.Lock()
	defer t.mu.Unlock()
	if n, ok := t.index[msg]; ok {
		return n
	}
	if len(t.texts) == 1<<16-1 {
		return 0
	}
	t.texts = append(t.texts, msg)
	t.index[msg] = uint16(len(t.texts) - 1)
	return t.index[msg]
}

func (t *errorTable) text(n uint16) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.texts[n]
}

var kindNames = [...]string{"START", "CREATE", "PSET", "PGET", "EXPIRE", "ROTATE", "END", "ENDOWNER", "PGET-GONE", "PROBE"}

func (k opKind) String() string { return kindNames[k] }

// historyLine is one line of the --history file: a fault window or an operation.
type historyLine struct {
	T      string   `json:"t"`
	Fault  string   `json:"fault,omitempty"`
	Nodes  []string `json:"nodes,omitempty"`
	Healed string   `json:"healed,omitempty"`
	End    string   `json:"converged,omitempty"`
	Op     string   `json:"op,omitempty"`
	Ms     float64  `json:"ms,omitempty"`
	Out    string   `json:"outcome,omitempty"`
	Node   string   `json:"node,omitempty"`
	Part   int16    `json:"partition,omitempty"`
	Sess   string   `json:"session,omitempty"`
	Detail string   `json:"detail,omitempty"`
	Stale  bool     `json:"stale,omitempty"`
	Err    string   `json:"err,omitempty"`
}

const stamp = "15:04:05.000000"

// writeHistory writes every fault window and operation (probes included), in time order,
// one JSON object per line, for looking into what the table sums up.
func writeHistory(path string, windows []*window, ops []opRecord, names []string, errs *errorTable) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	type item struct {
		t    time.Time
		line historyLine
	}
	var items []item
	for _, win := range windows {
		items = append(items, item{win.start, historyLine{T: win.start.Format(stamp), Fault: win.kind, Nodes: win.nodes,
			Healed: win.healed.Format(stamp), End: win.end.Format(stamp)}})
	}
	for i := range ops {
		op := &ops[i]
		items = append(items, item{op.inv, historyLine{T: op.inv.Format(stamp), Op: op.kind.String(),
			Ms: float64(op.done.Sub(op.inv).Microseconds()) / 1000, Out: op.out.String(), Node: names[op.node],
			Part: op.part, Sess: op.sess, Detail: op.detail, Stale: op.stale, Err: errs.text(op.msg)}})
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].t.Before(items[j].t) })
	for _, it := range items {
		if err := enc.Encode(it.line); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("history: %w", err)
	}
	return f.Close()
}

package sessions

import (
	"sync"
	"sync/atomic"
)

// tenantTable interns tenants so that a record carries a 4-byte index instead of 16 bytes.
// Entries are never removed: each distinct sign key ever used costs about 100 bytes for the
// life of the process.
type tenantTable struct {
	index sync.Map // Tenant -> uint32; read lock-free on every command
	mu    sync.Mutex
	list  atomic.Pointer[[]Tenant]
}

// lookup returns the index of t if any session of t was ever stored.
func (tt *tenantTable) lookup(t Tenant) (uint32, bool) {
	v, ok := tt.index.Load(t)
	if !ok {
		return 0, false
	}
	return v.(uint32), true
}

// intern returns the index of t, adding it if needed.
func (tt *tenantTable) intern(t Tenant) uint32 {
	if i, ok := tt.lookup(t); ok {
		return i
	}
	tt.mu.Lock()
	defer tt.mu.Unlock()
	if i, ok := tt.lookup(t); ok {
		return i
	}
	var list []Tenant
	if p := tt.list.Load(); p != nil {
		list = *p
	}
	// Copy on write: readers of the old slice keep a consistent view.
	next := append(list[:len(list):len(list)], t)
	tt.list.Store(&next)
	i := uint32(len(next) - 1)
	tt.index.Store(t, i)
	return i
}

func (tt *tenantTable) get(i uint32) Tenant { return (*tt.list.Load())[i] }

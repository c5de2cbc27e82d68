package membership

// Admission with Config.Identify: when gossip itself is not authenticated (peer TLS without
// a cluster secret), a member counts only once its replication port has answered under its
// name, which the peer TLS of that port vouches for.

// admit decides, inside a memberlist callback, whether a member counts now. With Identify, one
// that has not yet answered on its replication port under its own name waits outside the
// member list while that is checked. Caller holds mu.
func (m *Membership) admit(p Member) bool {
	if m.cfg.Identify == nil || m.verified[p.Name] == p.Repl {
		return true
	}
	m.unverified[p.Name] = p
	if !m.checking[p.Name] {
		m.checking[p.Name] = true
		go m.verify(p)
	}
	return false
}

// verify asks Identify who answers at a member's replication address; only if that is the
// member does it enter the member list.
func (m *Membership) verify(p Member) {
	name, err := m.cfg.Identify(m.ctx, p.Repl)
	m.mu.Lock()
	delete(m.checking, p.Name)
	cur, waiting := m.unverified[p.Name]
	ok := err == nil && name == p.Name && waiting && cur.Repl == p.Repl
	if ok {
		m.verified[p.Name] = p.Repl
		delete(m.unverified, p.Name)
		m.peers[p.Name] = cur
	}
	m.mu.Unlock()
	switch {
	case ok:
		m.log.Info("member verified on its replication port", "node", p.Name, "repl", p.Repl)
		m.changed()
	case err != nil:
		m.log.Warn("gossip member not admitted: its replication port did not authenticate", "node", p.Name, "repl", p.Repl, "err", err)
	case name != p.Name:
		m.log.Warn("gossip member not admitted: its replication port belongs to another node", "node", p.Name, "repl", p.Repl, "answered", name)
	}
}

// reverify retries members still waiting to be verified (rejoin calls it).
func (m *Membership) reverify() {
	if m.cfg.Identify == nil {
		return
	}
	m.mu.Lock()
	for name, p := range m.unverified {
		if !m.checking[name] {
			m.checking[name] = true
			go m.verify(p)
		}
	}
	m.mu.Unlock()
}

package api

import (
	"context"
	"testing"
	"time"

	"github.com/sessiongate/sessiongate/sessions"
)

// fakeNode reports fixed figures.
type fakeNode struct {
	view *ClusterView
	disk *Persistence
}

func (fakeNode) Do(context.Context, *sessions.Command) (sessions.Result, error) {
	return sessions.Result{}, nil
}
func (fakeNode) DoBatch(context.Context, []*sessions.Command, []Outcome) {}
func (fakeNode) Counters() Counters                                      { return Counters{Commands: 7, Carried: 3} }
func (fakeNode) StoreStats() sessions.Stats                              { return sessions.Stats{Sessions: 5} }
func (f fakeNode) ClusterView() *ClusterView                             { return f.view }
func (fakeNode) Locate(context.Context, sessions.ID) []Copy              { return nil }
func (f fakeNode) Persistence() *Persistence                             { return f.disk }

func field(secs []Section, sec, name string) (string, bool) {
	for _, s := range secs {
		if s.Name != sec {
			continue
		}
		for _, f := range s.Fields {
			if f[0] == name {
				return f[1], true
			}
		}
	}
	return "", false
}

func TestSectionsOfANodeAlone(t *testing.T) {
	secs := Sections(fakeNode{})
	for _, want := range [][3]string{{"sessions", "sessions", "5"}, {"sessions", "commands_executed", "7"}, {"cluster", "cluster_enabled", "0"}} {
		if got, ok := field(secs, want[0], want[1]); !ok || got != want[2] {
			t.Errorf("%s.%s = %q (%v), want %q", want[0], want[1], got, ok, want[2])
		}
	}
	if _, ok := field(secs, "cluster", "node_name"); ok {
		t.Error("a node alone reports cluster fields")
	}
}

func TestSectionsCountPartitionsAsSelf(t *testing.T) {
	v := &ClusterView{Self: "a", Replicas: 2, WriteAcks: "majority", LeasesHeld: 1,
		Members: []Member{{Name: "a"}, {Name: "b"}},
		Partitions: []PartitionInfo{
			{Partition: 0, Replicas: []string{"a", "b"}},
			{Partition: 1, Replicas: []string{"b", "a"}, UnderReplicated: true},
			{Partition: 2, Replicas: []string{"b"}},
		}}
	secs := Sections(fakeNode{view: v})
	for name, want := range map[string]string{"cluster_enabled": "1", "node_name": "a", "members": "2", "partitions": "3",
		"partitions_primary": "1", "partitions_held": "2", "partitions_under_replicated": "1", "carried_ops": "3",
		"read_leases_held": "1"} {
		if got, _ := field(secs, "cluster", name); got != want {
			t.Errorf("cluster.%s = %q, want %q", name, got, want)
		}
	}
}

func TestPersistenceSection(t *testing.T) {
	if got, _ := field(Sections(fakeNode{}), "persistence", "data_dir_enabled"); got != "0" {
		t.Errorf("a memory-only node: data_dir_enabled = %q", got)
	}
	p := &Persistence{Fsync: "always", Refused: "no space left on device", LogRecords: 10, Fsyncs: 4,
		FsyncTime: 1500 * time.Microsecond, Snapshots: 2, LastSnapshot: time.Unix(1700000000, 0), Loaded: 3}
	secs := Sections(fakeNode{disk: p})
	for name, want := range map[string]string{"data_dir_enabled": "1", "fsync": "always", "writes_refused": "1",
		"writes_refused_reason": "no space left on device", "log_records": "10", "log_fsyncs": "4",
		"log_fsync_usec": "1500", "snapshots": "2", "last_snapshot_time": "1700000000", "loaded_sessions": "3"} {
		if got, _ := field(secs, "persistence", name); got != want {
			t.Errorf("persistence.%s = %q, want %q", name, got, want)
		}
	}
}

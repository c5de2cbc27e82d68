package api

import (
	"reflect"
	"sync/atomic"
	"testing"
)

// Every counter reaches its own field of the snapshot, and none is left out.
func TestSnapshotCopiesEveryCounter(t *testing.T) {
	var s Stats
	sv := reflect.ValueOf(&s).Elem()
	if sv.NumField() != reflect.TypeOf(Counters{}).NumField() {
		t.Fatalf("Stats has %d counters, Counters %d", sv.NumField(), reflect.TypeOf(Counters{}).NumField())
	}
	for i := range sv.NumField() {
		sv.Field(i).Addr().Interface().(*atomic.Uint64).Store(uint64(i + 1))
	}
	c := reflect.ValueOf(s.Snapshot())
	for i := range sv.NumField() {
		name := sv.Type().Field(i).Name
		if got := c.FieldByName(name).Uint(); got != uint64(i+1) {
			t.Errorf("Counters.%s = %d, want %d", name, got, i+1)
		}
	}
}

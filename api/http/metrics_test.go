package httpapi

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/sessiongate/sessiongate/api"
	"github.com/sessiongate/sessiongate/node"
	"github.com/sessiongate/sessiongate/sessions"
)

// Commands are counted under the command table's names, alone or in a batch, and errors by
// kind of error; counting a command allocates nothing, so instrumenting the RESP path keeps a
// lone node's PGET free of allocations.
func TestInstrumentCountsByKindName(t *testing.T) {
	n, err := node.Create(node.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	m := NewMetrics(n)
	b := m.Instrument(n)
	ctx := context.Background()
	sg := sessions.NewSigner([]byte("k"))
	id, _ := sessions.NewID(bytes.NewReader(bytes.Repeat([]byte{7}, 64)), -1)
	if _, err := b.Do(ctx, &sessions.Command{Kind: sessions.KindStart, Tenant: sg.Tenant(), ID: id, TTL: 60}); err != nil {
		t.Fatal(err)
	}
	pset := &sessions.Command{Kind: sessions.KindPSet, Tenant: sg.Tenant(), ID: id, Name: []byte("a"), Data: []byte("1")}
	pget := &sessions.Command{Kind: sessions.KindPGet, Tenant: sg.Tenant(), ID: id, Name: []byte("a")}
	miss := &sessions.Command{Kind: sessions.KindPGet, Tenant: sg.Tenant(), ID: id, Name: []byte("b")}
	b.DoBatch(ctx, []*sessions.Command{pset, pget, miss}, make([]api.Outcome, 3))
	for _, k := range sessions.Kinds() {
		want := map[sessions.Kind]float64{sessions.KindStart: 1, sessions.KindPSet: 1, sessions.KindPGet: 2}[k]
		if got := counterValue(t, m, "sessiongate_commands_total", k.String()); got != want {
			t.Errorf("%s: %v commands counted, want %v", k, got, want)
		}
	}
	if got := counterValue(t, m, "sessiongate_command_errors_total", "pget", "client"); got != 1 {
		t.Errorf("pget client errors: %v, want 1", got)
	}
	var unknown sessions.Kind = 200
	b.Do(ctx, &sessions.Command{Kind: unknown})
	if got := counterValue(t, m, "sessiongate_commands_total", unknown.String()); got != 1 {
		t.Errorf("a kind the table does not know: %v counted under %q", got, unknown.String())
	}
	allocs := testing.AllocsPerRun(1000, func() { b.Do(ctx, pget) })
	if allocs != 0 {
		t.Errorf("%.1f allocations per instrumented PGET", allocs)
	}
}

// counterValue is the value of the counter name with the given label values, as /metrics
// would show it (0 when there is no such series).
func counterValue(t *testing.T, m *Metrics, name string, values ...string) float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, mt := range f.GetMetric() {
			var got []string
			for _, l := range mt.GetLabel() {
				got = append(got, l.GetValue())
			}
			if strings.Join(got, ",") == strings.Join(values, ",") {
				return mt.GetCounter().GetValue()
			}
		}
	}
	return 0
}

package quorum

import "testing"

func TestParseAcks(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Acks
		err  bool
	}{
		{"one", AcksOne, false},
		{"majority", AcksMajority, false},
		{"", AcksMajority, false},
		{"all", AcksAll, false},
		{"two", 0, true},
		{"ALL", 0, true},
	} {
		got, err := ParseAcks(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseAcks(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
		if err == nil && tc.in != "" {
			if s := got.String(); s != tc.in {
				t.Errorf("%q reads back as %q", tc.in, s)
			}
		}
	}
}

func TestNeeded(t *testing.T) {
	for _, tc := range []struct {
		a       Acks
		n, want int
	}{
		{AcksOne, 1, 1}, {AcksOne, 3, 1}, {AcksOne, 5, 1},
		{AcksMajority, 1, 1}, {AcksMajority, 2, 2}, {AcksMajority, 3, 2}, {AcksMajority, 4, 3}, {AcksMajority, 5, 3},
		{AcksAll, 1, 1}, {AcksAll, 3, 3}, {AcksAll, 5, 5},
	} {
		if got := tc.a.Needed(tc.n); got != tc.want {
			t.Errorf("%v.Needed(%d) = %d, want %d", tc.a, tc.n, got, tc.want)
		}
	}
}

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		name string
		w    Wait
		want Decision
	}{
		{"no backups", Wait{}, OK},
		{"acks=one needs none", Wait{Backups: 2, Need: 0}, OK},
		{"acks=one, a leased backup unanswered", Wait{Backups: 2, Need: 0, Leased: 1}, Waiting},
		{"majority of 3, nothing yet", Wait{Backups: 2, Need: 1}, Waiting},
		{"majority of 3, one ack", Wait{Backups: 2, Need: 1, Acked: 1}, OK},
		{"majority of 3, the carrier", Wait{Backups: 2, Need: 1, Acked: 1}, OK},
		{"majority of 3, one failed", Wait{Backups: 2, Need: 1, Failed: 1}, Waiting},
		{"majority of 3, both failed", Wait{Backups: 2, Need: 1, Failed: 2}, Failed},
		{"majority of 3, ack and a leased failure", Wait{Backups: 2, Need: 1, Acked: 1, Failed: 1, Leased: 1}, Waiting},
		{"majority of 3, ack and the lease ran out", Wait{Backups: 2, Need: 1, Acked: 1, Failed: 1}, OK},
		{"all of 3, one failed", Wait{Backups: 2, Need: 2, Acked: 1, Failed: 1}, Failed},
		{"all of 3, one failed but leased", Wait{Backups: 2, Need: 2, Acked: 1, Failed: 1, Leased: 1}, Failed},
		{"all of 3, both acked", Wait{Backups: 2, Need: 2, Acked: 2}, OK},
		{"majority of 2, the only backup failed", Wait{Backups: 1, Need: 1, Failed: 1}, Failed},
		{"majority of 5, two failed", Wait{Backups: 4, Need: 2, Acked: 1, Failed: 2}, Waiting},
		{"majority of 5, three failed", Wait{Backups: 4, Need: 2, Acked: 1, Failed: 3}, Failed},
	} {
		if got := tc.w.Decide(); got != tc.want {
			t.Errorf("%s: %+v decides %v, want %v", tc.name, tc.w, got, tc.want)
		}
	}
}

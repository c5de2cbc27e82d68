package clusterkey

import (
	"bytes"
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	keys, err := Parse([]byte("# rotated on 2026-12-07\n  new-secret-0123456789  \n\nold-secret-0123456789\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("got %d keys, want 2", len(keys))
	}
	want, _ := New([]byte("new-secret-0123456789"))
	if keys[0].ID() != want.ID() {
		t.Fatal("the first secret is not the newest line, trimmed")
	}
	if keys[0].ID() == keys[1].ID() {
		t.Fatal("two secrets share an id")
	}
	if k, ok := Find(keys, keys[1].ID()); !ok || k.ID() != keys[1].ID() {
		t.Fatal("Find misses the older key")
	}
}

func TestParseRefuses(t *testing.T) {
	for name, text := range map[string]string{
		"empty":    "",
		"comments": "# nothing\n\n",
		"short":    "short\n",
		"repeated": "same-secret-0123456789\nsame-secret-0123456789\n",
		"too many": "a123456789abcdefgh\nb123456789abcdefgh\nc123456789abcdefgh\nd123456789abcdefgh\ne123456789abcdefgh\n",
	} {
		if _, err := Parse([]byte(text)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err %v, want ErrInvalid", name, err)
		}
	}
}

func TestDeriveSeparatesPurposesAndLinks(t *testing.T) {
	k, _ := New([]byte("0123456789abcdef"))
	other, _ := New([]byte("0123456789abcdeg"))
	a := k.Derive("x", []byte("link1"), 32)
	if !bytes.Equal(a, k.Derive("x", []byte("link1"), 32)) {
		t.Fatal("derivation is not deterministic")
	}
	for _, b := range [][]byte{k.Derive("y", []byte("link1"), 32), k.Derive("x", []byte("link2"), 32), other.Derive("x", []byte("link1"), 32)} {
		if bytes.Equal(a, b) {
			t.Fatal("keys for another purpose, link or secret are equal")
		}
	}
	if len(k.Gossip()) != 32 || bytes.Equal(k.Gossip(), other.Gossip()) {
		t.Fatal("gossip keys are not 32 bytes or not distinct")
	}
}

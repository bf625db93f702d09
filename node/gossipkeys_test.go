package node

import (
	"encoding/base64"
	"errors"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

func mustKey(t *testing.T) string {
	t.Helper()
	k, err := GenerateGossipKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestDecodeGossipKey(t *testing.T) {
	for _, n := range []int{16, 24, 32} {
		if _, err := DecodeGossipKey(base64.StdEncoding.EncodeToString(make([]byte, n))); err != nil {
			t.Errorf("%d bytes: %v", n, err)
		}
	}
	for _, bad := range []string{"", "not base64!", base64.StdEncoding.EncodeToString(make([]byte, 20))} {
		if _, err := DecodeGossipKey(bad); !errors.Is(err, ErrBadArg) {
			t.Errorf("%q: err = %v, want ErrBadArg", bad, err)
		}
	}
}

func TestGossipKeyringFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "gossip.keyring")
	k1, k2 := mustKey(t), mustKey(t)

	if kr, err := openGossipKeyring("", ""); err != nil || kr != nil {
		t.Fatalf("no key, no file: %v, %v (want no keyring)", kr, err)
	}
	kr, err := openGossipKeyring(k1, file)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keyring file: %v, %v", fi, err)
	}
	// Rotation: install, use, remove; each step persisted.
	if err := kr.install(k2); err != nil {
		t.Fatal(err)
	}
	if err := kr.remove(k1); err == nil {
		t.Fatal("removing the primary key must fail")
	}
	if err := kr.use(k2); err != nil {
		t.Fatal(err)
	}
	if err := kr.remove(k1); err != nil {
		t.Fatal(err)
	}
	if got := kr.list(); len(got) != 1 || got[0] != k2 {
		t.Fatalf("keys = %v", got)
	}
	// A restart with the old flag is refused (the file moved on); without
	// the flag it reads the rotated ring.
	if _, err := openGossipKeyring(k1, file); !errors.Is(err, ErrBadArg) {
		t.Fatalf("stale flag: err = %v", err)
	}
	kr2, err := openGossipKeyring("", file)
	if err != nil {
		t.Fatal(err)
	}
	if got := kr2.list(); len(got) != 1 || got[0] != k2 {
		t.Fatalf("reopened keys = %v", got)
	}
	if err := kr2.install("garbage"); !errors.Is(err, ErrBadArg) {
		t.Fatalf("install garbage: %v", err)
	}
	if err := os.WriteFile(file, []byte("[]"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openGossipKeyring("", file); err == nil || !strings.Contains(err.Error(), "no key") {
		t.Fatalf("empty file: %v", err)
	}
}

// startTestMemberlist runs a memberlist on loopback with the given ring
// (nil: no encryption).
func startTestMemberlist(t *testing.T, name string, ring *memberlist.Keyring) *memberlist.Memberlist {
	t.Helper()
	mc := memberlist.DefaultLocalConfig()
	mc.Name = name
	mc.BindAddr = "127.0.0.1"
	mc.BindPort = 0
	mc.Keyring = ring
	mc.Logger = log.New(io.Discard, "", 0)
	ml, err := memberlist.Create(mc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ml.Shutdown() })
	return ml
}

func addrOf(ml *memberlist.Memberlist) string { return ml.LocalNode().FullAddress().Addr }

func waitMembers(t *testing.T, ml *memberlist.Memberlist, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for ml.NumMembers() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%s sees %d members, want %d", ml.LocalNode().Name, ml.NumMembers(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestGossipEncryption: a member without the key cannot join, and the key
// can be rotated on a running pair without splitting it.
func TestGossipEncryption(t *testing.T) {
	k1, k2 := mustKey(t), mustKey(t)
	dir := t.TempDir()
	kra, err := openGossipKeyring(k1, filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	krb, err := openGossipKeyring(k1, filepath.Join(dir, "b"))
	if err != nil {
		t.Fatal(err)
	}
	a := startTestMemberlist(t, "a", kra.ring)
	b := startTestMemberlist(t, "b", krb.ring)
	if _, err := b.Join([]string{addrOf(a)}); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, a, 2)

	// No key, or another key: the join fails and a never lists it.
	plain := startTestMemberlist(t, "plain", nil)
	if _, err := plain.Join([]string{addrOf(a)}); err == nil {
		t.Fatal("join without the key succeeded")
	}
	other, _ := openGossipKeyring(mustKey(t), "")
	stranger := startTestMemberlist(t, "stranger", other.ring)
	if _, err := stranger.Join([]string{addrOf(a)}); err == nil {
		t.Fatal("join with another key succeeded")
	}
	if a.NumMembers() != 2 {
		t.Fatalf("a lists %d members after the refused joins", a.NumMembers())
	}

	// Rotate k1 -> k2 step by step on both.
	for _, kr := range []*gossipKeyring{kra, krb} {
		if err := kr.install(k2); err != nil {
			t.Fatal(err)
		}
	}
	for _, kr := range []*gossipKeyring{kra, krb} {
		if err := kr.use(k2); err != nil {
			t.Fatal(err)
		}
	}
	for _, kr := range []*gossipKeyring{kra, krb} {
		if err := kr.remove(k1); err != nil {
			t.Fatal(err)
		}
	}
	// Still one cluster, and a newcomer needs the new key.
	newcomerKR, _ := openGossipKeyring(k2, "")
	c := startTestMemberlist(t, "c", newcomerKR.ring)
	if _, err := c.Join([]string{addrOf(a)}); err != nil {
		t.Fatalf("join with the rotated key: %v", err)
	}
	waitMembers(t, a, 3)
	waitMembers(t, b, 3)
	oldKR, _ := openGossipKeyring(k1, "")
	d := startTestMemberlist(t, "d", oldKR.ring)
	if _, err := d.Join([]string{addrOf(a)}); err == nil {
		t.Fatal("join with the removed key succeeded")
	}
}

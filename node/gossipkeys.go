package node

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/hashicorp/memberlist"
)

// Gossip encryption. memberlist encrypts and authenticates every gossip
// packet and stream with AES-GCM under the keyring's primary key and
// accepts any key in the ring, which is what makes rotation possible
// without a partition: install the new key on every node, make it primary
// on every node, then remove the old one everywhere (GOSSIP.KEYS INSTALL,
// USE, REMOVE; `sessionraft gossip-keys` does each step on every member).
//
// The keyring file holds the ring across restarts: a JSON array of base64
// keys, the primary first. A node started with --gossip-key and no file
// writes the file, so a rotation done later survives a restart.

// gossipKeyring is a node's keyring and the file it is kept in.
type gossipKeyring struct {
	mu   sync.Mutex // serialises changes and their writes to file
	ring *memberlist.Keyring
	file string // "" when the ring is not persisted
}

// DecodeGossipKey decodes a base64 gossip key: 16, 24 or 32 bytes (AES-128,
// -192 or -256).
func DecodeGossipKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: gossip key is not base64", ErrBadArg)
	}
	switch len(k) {
	case 16, 24, 32:
		return k, nil
	}
	return nil, fmt.Errorf("%w: gossip key must be 16, 24 or 32 bytes, not %d", ErrBadArg, len(k))
}

// GenerateGossipKey makes a random 32-byte key, base64-encoded.
func GenerateGossipKey() (string, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(k), nil
}

// openGossipKeyring builds the keyring from the key flag and the keyring
// file. With neither it returns nil: gossip runs unencrypted. With both,
// the file wins (it holds rotations made since) but must contain the flag's
// key, so a typo in either is noticed instead of splitting the cluster.
func openGossipKeyring(key, file string) (*gossipKeyring, error) {
	var keys [][]byte
	if file != "" {
		b, err := os.ReadFile(file)
		switch {
		case err == nil:
			var enc []string
			if err := json.Unmarshal(b, &enc); err != nil {
				return nil, fmt.Errorf("gossip keyring %s: %w", file, err)
			}
			for _, s := range enc {
				k, err := DecodeGossipKey(s)
				if err != nil {
					return nil, fmt.Errorf("gossip keyring %s: %w", file, err)
				}
				keys = append(keys, k)
			}
			if len(keys) == 0 {
				return nil, fmt.Errorf("gossip keyring %s holds no key", file)
			}
		case errors.Is(err, os.ErrNotExist):
		default:
			return nil, fmt.Errorf("gossip keyring: %w", err)
		}
	}
	if key != "" {
		k, err := DecodeGossipKey(key)
		if err != nil {
			return nil, err
		}
		if len(keys) == 0 {
			keys = [][]byte{k}
		} else if !containsKey(keys, k) {
			return nil, fmt.Errorf("%w: --gossip-key is not in the keyring file %s (the file holds the keys after a rotation: drop the flag or fix the file)", ErrBadArg, file)
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	ring, err := memberlist.NewKeyring(keys, keys[0])
	if err != nil {
		return nil, fmt.Errorf("gossip keyring: %w", err)
	}
	kr := &gossipKeyring{ring: ring, file: file}
	if file != "" {
		if err := kr.save(); err != nil {
			return nil, err
		}
	}
	return kr, nil
}

func containsKey(keys [][]byte, k []byte) bool {
	for _, x := range keys {
		if bytes.Equal(x, k) {
			return true
		}
	}
	return false
}

// list returns the keys, primary first, base64-encoded.
func (kr *gossipKeyring) list() []string {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	var out []string
	for _, k := range kr.ring.GetKeys() { // primary first
		out = append(out, base64.StdEncoding.EncodeToString(k))
	}
	return out
}

// install adds a key (not yet used to send).
func (kr *gossipKeyring) install(key string) error {
	return kr.change(key, kr.ring.AddKey)
}

// use makes an installed key the primary one.
func (kr *gossipKeyring) use(key string) error {
	return kr.change(key, kr.ring.UseKey)
}

// remove drops a key that is not the primary one.
func (kr *gossipKeyring) remove(key string) error {
	return kr.change(key, kr.ring.RemoveKey)
}

func (kr *gossipKeyring) change(key string, op func([]byte) error) error {
	k, err := DecodeGossipKey(key)
	if err != nil {
		return err
	}
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if err := op(k); err != nil {
		return fmt.Errorf("%w: %v", ErrBadArg, err)
	}
	return kr.saveLocked()
}

func (kr *gossipKeyring) save() error {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	return kr.saveLocked()
}

// saveLocked writes the ring to its file atomically (temp file, fsync,
// rename, directory fsync), readable by the owner only.
func (kr *gossipKeyring) saveLocked() error {
	if kr.file == "" {
		return nil
	}
	var enc []string
	for _, k := range kr.ring.GetKeys() {
		enc = append(enc, base64.StdEncoding.EncodeToString(k))
	}
	b, _ := json.MarshalIndent(enc, "", "  ")
	return writeFileAtomic(kr.file, append(b, '\n'), 0o600)
}

// writeFileAtomic replaces path with data so that a crash leaves either
// the old file or the new one, never a mix.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename: nothing there
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

package snapstore

import (
	"encoding/json"
	"fmt"
	"hash/crc64"

	"github.com/hashicorp/raft"
)

const (
	metaFile  = "meta.json"
	stateFile = "state.bin"
	tmpSuffix = ".tmp"
	// filePerm is the mode of a snapshot's files (owner writes, group reads).
	filePerm = 0o640
)

var crcTable = crc64.MakeTable(crc64.ECMA)

// fileMeta is meta.json: raft's metadata and the CRC-64 of state.bin, the
// JSON FileSnapshotStore writes too (the embedded struct's fields at the
// top level, the CRC in base64).
type fileMeta struct {
	raft.SnapshotMeta
	CRC []byte
}

func encodeMeta(m *fileMeta) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// decodeMeta decodes the meta.json of the snapshot directory named id and
// checks that it describes a complete snapshot of a version raft reads.
func decodeMeta(id string, b []byte) (*fileMeta, error) {
	m := &fileMeta{}
	if err := json.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("%w: %s: %s: %v", ErrDamaged, id, metaFile, err)
	}
	switch {
	case m.Version < raft.SnapshotVersionMin || m.Version > raft.SnapshotVersionMax:
		return nil, fmt.Errorf("%w: %s: version %d", ErrVersion, id, m.Version)
	case m.ID != id:
		return nil, fmt.Errorf("%w: %s: %s names snapshot %q", ErrDamaged, id, metaFile, m.ID)
	case len(m.CRC) != crc64.Size:
		// FileSnapshotStore writes a first meta.json without a CRC when
		// it starts a snapshot; only a finished one has it.
		return nil, fmt.Errorf("%w: %s: %s has no CRC (an unfinished snapshot)", ErrDamaged, id, metaFile)
	case m.Size < 0:
		return nil, fmt.Errorf("%w: %s: size %d", ErrDamaged, id, m.Size)
	}
	return m, nil
}

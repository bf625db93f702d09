// Package snapstore is a raft.SnapshotStore on files whose snapshots
// survive a power loss at any point: after a reboot a snapshot is either
// complete (its data and metadata read back exactly as written) or not
// listed at all, and every snapshot whose sink's Close returned is there.
//
// Why not hashicorp/raft's FileSnapshotStore: it syncs state.bin and
// meta.json and the snapshots directory after the rename, but never the
// snapshot's own directory, so the entries naming state.bin and meta.json
// may not survive a crash although the renamed directory does; nor does it
// sync the group directory after creating "snapshots", and it reaps old
// snapshots file by file, so a crash can leave one with metadata and no
// data. hashicorp/raft compacts the log as soon as Close returns, so a
// snapshot that Close promised and a crash then loses leaves the replica
// with neither the entries nor the state they built: it cannot start.
// The power-loss test (powerloss_test.go, on internal/crashfs's model)
// finds exactly that when the snapshot directory's sync is left out.
//
// Layout, the same as FileSnapshotStore's so either reads the other's
// snapshots (data directories from before this package keep working):
//
//	<group>/snapshots/<term>-<index>-<msec>/state.bin   the fsm's data
//	<group>/snapshots/<term>-<index>-<msec>/meta.json   raft.SnapshotMeta + CRC-64 (ECMA) of state.bin
//
// The order that makes it crash-safe (Sink.Close):
//
//  1. state.bin written into "<id>.tmp" and fsynced;
//  2. meta.json (with state.bin's size and CRC) created, written, fsynced;
//  3. "<id>.tmp" fsynced, so both names in it are durable;
//  4. "<id>.tmp" renamed to "<id>" and "snapshots" fsynced: the snapshot
//     is durable, and Close returns only now;
//  5. snapshots beyond the retained count are renamed back to "<id>.tmp",
//     "snapshots" fsynced, and then removed.
//
// A ".tmp" directory is therefore never a snapshot anyone relies on: New
// removes those a crash left. List shows only snapshots whose metadata
// decodes and whose state.bin has the size it records; Open checks the
// CRC over the whole file before handing it to raft, as FileSnapshotStore
// does.
package snapstore

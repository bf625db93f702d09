// Package crashfs is the handful of file operations the raft log
// (node/raftwal) and the snapshot store (node/snapstore) make, behind one
// small interface, FS, with two implementations:
//
//   - OS, the real file system, which production uses;
//   - Mem, a file system in memory that can lose power, which their
//     power-loss tests use: at a chosen operation the power goes, and a
//     reboot finds only what fsync, fdatasync and directory syncs made
//     durable, plus a random part of what they did not (mem.go and
//     tear.go say exactly what).
//
// Both stores decide their durability by the order of their writes and
// syncs; the model is how their tests check that order against every
// crash point, which a real disk cannot show in a unit test. Having one
// model keeps the two stores' guarantees checked by the same rules.
//
// Production code only ever holds an OS value: Mem is never built outside
// tests, so the linker drops it, and OS's methods are plain os calls.
package crashfs

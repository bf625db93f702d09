// Package glob matches strings against Redis glob-style patterns, the
// syntax of KEYS, SCAN MATCH, PSUBSCRIBE and ACL key patterns (~pattern).
//
// Written here rather than taken from path.Match or filepath.Match because
// those treat '/' specially and reject patterns Redis accepts (a lone '[',
// a trailing '\'); Redis users expect their patterns to behave exactly as
// on Redis. The matcher is iterative with one backtrack point per '*', so a
// hostile pattern cannot make it take exponential time.
package glob

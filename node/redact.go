package node

import "unicode/utf8"

// Session ids are bearer tokens and field values are the application's
// secrets: neither is ever logged or put in an error reply in full. A short
// prefix is enough for an operator to correlate a log line with a client's
// report, and far too short to use (ids carry 128 random bits; six
// characters of base64 carry 36 of them).

// redactKeep is how many leading characters of a secret are kept.
const redactKeep = 6

// redact returns the first characters of s followed by "...", or s when it
// is that short already (nothing is hidden in an id that short anyway; the
// server makes 22-character ids). It never cuts a UTF-8 sequence.
func redact(s string) string {
	if utf8.RuneCountInString(s) <= redactKeep {
		return s
	}
	n := 0
	for i := range s {
		if n == redactKeep {
			return s[:i] + "..."
		}
		n++
	}
	return s
}

// redactBytes is redact for a byte slice argument.
func redactBytes(b []byte) string {
	if len(b) > 4*redactKeep+4 {
		b = b[:4*redactKeep+4] // enough bytes for redactKeep runes
	}
	return redact(string(b))
}

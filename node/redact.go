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

// replyName renders an unknown command name for its error reply. A name
// that looks like a command (letters of one case, '.', '_', '-', at most 32
// bytes: SESSION.CRATE) is shown in full, so a typo can be seen; anything
// else (a client that lost its framing and sent a session id or a value
// where a command belongs) is shortened by redact. Random ids practically
// never pass: they mix cases and digits.
func replyName(b []byte) string {
	if len(b) == 0 || len(b) > 32 {
		return redactBytes(b)
	}
	upper, lower := false, false
	for _, c := range b {
		switch {
		case c >= 'A' && c <= 'Z':
			upper = true
		case c >= 'a' && c <= 'z':
			lower = true
		case c == '.' || c == '_' || c == '-':
		default:
			return redactBytes(b)
		}
	}
	if upper && lower {
		return redactBytes(b)
	}
	return string(b)
}

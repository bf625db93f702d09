package resp

import "strconv"

// Inline commands are what telnet and `nc` users type: "SET k v\r\n".
// Redis splits them with sdssplitargs, which understands "double quotes"
// with C escapes (\n, \xHH, ...) and 'single quotes'; we do the same so a
// value with spaces can be typed by hand.

// splitInline appends the arguments of line to buf (bytes) and ends (end
// offsets). Unbalanced quotes are a protocol error, as in Redis.
func splitInline(line, buf []byte, ends []int) ([]byte, []int, error) {
	p := 0
	for {
		for p < len(line) && isSpace(line[p]) {
			p++
		}
		if p == len(line) {
			return buf, ends, nil
		}
		inDouble, inSingle := false, false
		for done := false; !done; {
			if inDouble {
				if p == len(line) {
					return buf, ends, protoErr("unbalanced quotes in request")
				}
				c := line[p]
				switch {
				case c == '\\' && p+3 < len(line) && line[p+1] == 'x' && isHex(line[p+2]) && isHex(line[p+3]):
					buf = append(buf, unhex(line[p+2])<<4|unhex(line[p+3]))
					p += 3
				case c == '\\' && p+1 < len(line):
					p++
					switch c = line[p]; c {
					case 'n':
						c = '\n'
					case 'r':
						c = '\r'
					case 't':
						c = '\t'
					case 'b':
						c = '\b'
					case 'a':
						c = '\a'
					}
					buf = append(buf, c)
				case c == '"':
					// The closing quote must end the argument.
					if p+1 < len(line) && !isSpace(line[p+1]) {
						return buf, ends, protoErr("unbalanced quotes in request")
					}
					done = true
				default:
					buf = append(buf, c)
				}
			} else if inSingle {
				if p == len(line) {
					return buf, ends, protoErr("unbalanced quotes in request")
				}
				c := line[p]
				switch {
				case c == '\\' && p+1 < len(line) && line[p+1] == '\'':
					buf = append(buf, '\'')
					p++
				case c == '\'':
					if p+1 < len(line) && !isSpace(line[p+1]) {
						return buf, ends, protoErr("unbalanced quotes in request")
					}
					done = true
				default:
					buf = append(buf, c)
				}
			} else {
				if p == len(line) {
					break
				}
				switch c := line[p]; c {
				case ' ', '\n', '\r', '\t', 0:
					done = true
				case '"':
					inDouble = true
				case '\'':
					inSingle = true
				default:
					buf = append(buf, c)
				}
			}
			if p < len(line) {
				p++
			}
		}
		ends = append(ends, len(buf))
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// quoteString quotes s for an error message (strconv.Quote, kept in one
// place so messages look alike).
func quoteString(s string) string { return strconv.Quote(s) }

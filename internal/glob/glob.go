package glob

// Match reports whether s matches pattern:
//
//   - any sequence of bytes, also empty
//     ?      any one byte
//     [abc]  one of the listed bytes; [^abc] none of them; [a-z] a range
//     \x     the byte x itself (also inside brackets)
//
// A '[' without its closing ']' matches up to the end of the pattern, as in
// Redis. Matching is on bytes, case-sensitive.
func Match(pattern, s string) bool {
	p, i := 0, 0
	// Where to resume after the most recent '*': the pattern position just
	// past it and the next position in s it has not swallowed yet. Only
	// the latest star needs to backtrack: a later star can absorb anything
	// an earlier one could.
	starP, starI := -1, 0
	for i < len(s) {
		if p < len(pattern) {
			switch pattern[p] {
			case '*':
				for p < len(pattern) && pattern[p] == '*' {
					p++
				}
				if p == len(pattern) {
					return true
				}
				starP, starI = p, i
				continue
			case '?':
				p++
				i++
				continue
			case '[':
				ok, next := matchClass(pattern, p+1, s[i])
				if ok {
					p = next
					i++
					continue
				}
			case '\\':
				if p+1 < len(pattern) {
					if pattern[p+1] == s[i] {
						p += 2
						i++
						continue
					}
				} else if s[i] == '\\' { // a trailing '\' stands for itself
					p++
					i++
					continue
				}
			default:
				if pattern[p] == s[i] {
					p++
					i++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		// Let the last star swallow one more byte and retry.
		starI++
		p, i = starP, starI
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// matchClass matches c against the bracket expression starting at
// pattern[p] (just past '['). It returns whether c matched and the pattern
// position after the closing ']' (or the end of the pattern).
func matchClass(pattern string, p int, c byte) (bool, int) {
	negate := false
	if p < len(pattern) && pattern[p] == '^' {
		negate = true
		p++
	}
	matched := false
	for p < len(pattern) && pattern[p] != ']' {
		switch {
		case pattern[p] == '\\' && p+1 < len(pattern):
			p++
			if pattern[p] == c {
				matched = true
			}
			p++
		case p+2 < len(pattern) && pattern[p+1] == '-' && pattern[p+2] != ']':
			lo, hi := pattern[p], pattern[p+2]
			if lo > hi {
				lo, hi = hi, lo
			}
			if lo <= c && c <= hi {
				matched = true
			}
			p += 3
		default:
			if pattern[p] == c {
				matched = true
			}
			p++
		}
	}
	if p < len(pattern) {
		p++ // the closing ']'
	}
	return matched != negate, p
}

// IsLiteral reports whether pattern matches only itself (no '*', '?', '['
// or '\'), so callers can look a key up instead of scanning.
func IsLiteral(pattern string) bool {
	for i := 0; i < len(pattern); i++ {
		switch pattern[i] {
		case '*', '?', '[', '\\':
			return false
		}
	}
	return true
}

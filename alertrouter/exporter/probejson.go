package exporter

import (
	"bytes"
	"unicode/utf8"
)

// scanProbeJSON reads "success" and "reason" from vigie's /probe JSON
// without encoding/json: an answer is 1.2 KiB of metrics the router does
// not use, which json.Unmarshal validates and then skips, byte by byte,
// twice (10 µs of a probe's 110). It still checks the whole document is
// valid JSON. It gives up (ok false) on whatever it does not handle
// exactly as json.Unmarshal into probeJSON would, which then decides: an
// invalid document, escapes in the reason, a key that only matches a
// field without regard to case, a repeated or null field, deep nesting.
func scanProbeJSON(body []byte) (p probeJSON, ok bool) {
	s := jsonScanner{b: body}
	s.space()
	if !s.eat('{') {
		return p, false
	}
	var success, seen bool
	s.space()
	if !s.eat('}') {
		for {
			s.space()
			key, plain := s.str()
			if !plain || !s.colonAfter() {
				return p, false
			}
			switch {
			case key == "success":
				if seen {
					return p, false
				}
				seen = true
				switch {
				case s.lit("true"):
					success = true
				case s.lit("false"):
				default:
					return p, false
				}
			case key == "reason":
				if p.Reason != "" || s.peek() != '"' {
					return p, false
				}
				r, plain := s.str()
				if !plain || r == "" {
					// An empty reason is the zero value: a repeated
					// key could not be told apart; leave it to json.
					return p, false
				}
				p.Reason = r
			case foldsTo(key, "success"), foldsTo(key, "reason"):
				return p, false
			default:
				if !s.value(0) {
					return p, false
				}
			}
			s.space()
			if s.eat(',') {
				continue
			}
			if s.eat('}') {
				break
			}
			return p, false
		}
	}
	s.space()
	if s.i != len(s.b) {
		return p, false
	}
	if seen {
		p.Success = &success
	}
	return p, true
}

// foldsTo reports whether json.Unmarshal might match key to the field
// named name although they differ: it ignores case, with Unicode folds
// such as the Kelvin sign for k (any key not in ASCII is left to it).
func foldsTo(key, name string) bool {
	if key == name {
		return false
	}
	return bytes.EqualFold([]byte(key), []byte(name)) || !isASCII(key)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// maxScanDepth bounds nesting in skipped values; deeper documents go to
// encoding/json.
const maxScanDepth = 32

type jsonScanner struct {
	b []byte
	i int
}

func (s *jsonScanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *jsonScanner) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *jsonScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jsonScanner) colonAfter() bool {
	s.space()
	if !s.eat(':') {
		return false
	}
	s.space()
	return true
}

func (s *jsonScanner) lit(l string) bool {
	if len(s.b)-s.i >= len(l) && string(s.b[s.i:s.i+len(l)]) == l {
		s.i += len(l)
		return true
	}
	return false
}

// str reads a string of valid UTF-8 without escapes; plain is false for
// anything else (which may still be a valid JSON string).
func (s *jsonScanner) str() (v string, plain bool) {
	if !s.eat('"') {
		return "", false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			if !utf8.Valid(v) {
				return "", false
			}
			return string(v), true
		case c == '\\' || c < 0x20:
			return "", false
		}
		s.i++
	}
	return "", false
}

// skipStr skips a valid JSON string, escapes included.
func (s *jsonScanner) skipStr() bool {
	if !s.eat('"') {
		return false
	}
	for s.i < len(s.b) {
		c := s.b[s.i]
		s.i++
		switch {
		case c == '"':
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if s.i >= len(s.b) {
				return false
			}
			e := s.b[s.i]
			s.i++
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				for range 4 {
					if s.i >= len(s.b) || !isHex(s.b[s.i]) {
						return false
					}
					s.i++
				}
			default:
				return false
			}
		}
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// number skips a JSON number.
func (s *jsonScanner) number() bool {
	s.eat('-')
	switch {
	case s.eat('0'):
	case s.i < len(s.b) && '1' <= s.b[s.i] && s.b[s.i] <= '9':
		s.digits()
	default:
		return false
	}
	if s.eat('.') && !s.digits() {
		return false
	}
	if s.eat('e') || s.eat('E') {
		if !s.eat('+') {
			s.eat('-')
		}
		if !s.digits() {
			return false
		}
	}
	return true
}

func (s *jsonScanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && isDigit(s.b[s.i]) {
		s.i++
	}
	return s.i > start
}

// value skips any JSON value.
func (s *jsonScanner) value(depth int) bool {
	if depth > maxScanDepth {
		return false
	}
	switch s.peek() {
	case '"':
		return s.skipStr()
	case '{':
		s.i++
		s.space()
		if s.eat('}') {
			return true
		}
		for {
			s.space()
			if !s.skipStr() || !s.colonAfter() || !s.value(depth+1) {
				return false
			}
			s.space()
			if s.eat(',') {
				continue
			}
			return s.eat('}')
		}
	case '[':
		s.i++
		s.space()
		if s.eat(']') {
			return true
		}
		for {
			s.space()
			if !s.value(depth + 1) {
				return false
			}
			s.space()
			if s.eat(',') {
				continue
			}
			return s.eat(']')
		}
	case 't':
		return s.lit("true")
	case 'f':
		return s.lit("false")
	case 'n':
		return s.lit("null")
	default:
		return s.number()
	}
}

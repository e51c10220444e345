package notify

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// asciiReplacements covers the characters that decomposition does not turn
// into ASCII but that have an obvious ASCII spelling.
var asciiReplacements = map[rune]string{
	'ß': "ss", 'Æ': "AE", 'æ': "ae", 'Œ': "OE", 'œ': "oe", 'Ø': "O", 'ø': "o",
	'Ł': "L", 'ł': "l", 'Đ': "D", 'đ': "d", 'Þ': "Th", 'þ': "th", 'ı': "i",
	'‘': "'", '’': "'", '‚': "'", '′': "'", '“': `"`, '”': `"`, '„': `"`, '«': `"`, '»': `"`,
	'–': "-", '—': "-", '‐': "-", '−': "-", '…': "...", '•': "*", '·': "*",
	'→': "->", '←': "<-", '⇒': "=>", '×': "x", '÷': "/", '€': "EUR", '£': "GBP",
	'⁄': "/", 'μ': "u", '©': "(c)", '®': "(R)", '™': "TM", '°': "deg", 'µ': "u", '±': "+/-",
	'\t': " ", '\u00a0': " ", '\u202f': " ", '\u2009': " ",
}

// ASCII transliterates s to printable ASCII and newlines: accents are
// removed ("é" → "e"), common typography gets its ASCII spelling ("…" →
// "..."), and what has none (emoji, other scripts) is dropped. SMS use it to
// stay in one cheap GSM-7 segment.
func ASCII(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range norm.NFKD.String(s) {
		switch {
		case r == '\n' || (r >= ' ' && r < 0x7f):
			b.WriteRune(r)
		case unicode.Is(unicode.Mn, r):
			// a combining accent split off by the decomposition
		default:
			if rep, ok := asciiReplacements[r]; ok {
				b.WriteString(rep)
			}
		}
	}
	return b.String()
}

package telegramtest

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The tags Telegram's HTML parse mode supports
// (https://core.telegram.org/bots/api#html-style).
var supportedTags = map[string]bool{
	"b": true, "strong": true, "i": true, "em": true, "u": true, "ins": true,
	"s": true, "strike": true, "del": true, "span": true, "tg-spoiler": true,
	"a": true, "code": true, "pre": true, "blockquote": true, "tg-emoji": true,
}

// ParseHTML parses text the way Telegram's HTML parse mode does and returns
// the text users see. It is strict where Telegram's documentation is: "All
// <, > and & symbols that are not a part of a tag or an HTML entity must be
// replaced with the corresponding HTML entities" — a "<" or "&" that does
// not start a tag or a supported entity is an error (a lone ">" is
// accepted, as the real API does). Errors read like Telegram's, without the
// "Bad Request: can't parse entities: " prefix.
func ParseHTML(text string) (string, error) {
	var out strings.Builder
	var open []string // stack of open tag names
	for i := 0; i < len(text); {
		switch text[i] {
		case '&':
			r, n, err := parseEntity(text, i)
			if err != nil {
				return "", err
			}
			out.WriteRune(r)
			i += n
		case '<':
			n, name, closing, err := parseTag(text, i)
			if err != nil {
				return "", err
			}
			if closing {
				if len(open) == 0 {
					return "", telegramError("Unexpected end tag at byte offset %d", i)
				}
				if top := open[len(open)-1]; top != name {
					return "", telegramError("Unmatched end tag at byte offset %d, expected \"</%s>\", found \"</%s>\"", i, top, name)
				}
				open = open[:len(open)-1]
			} else {
				if len(open) > 0 && (open[len(open)-1] == "code" || (open[len(open)-1] == "pre" && name != "code")) {
					return "", telegramError("Tag \"%s\" can't be nested in \"%s\" at byte offset %d", name, open[len(open)-1], i)
				}
				open = append(open, name)
			}
			i += n
		default:
			r, n := utf8.DecodeRuneInString(text[i:])
			if r == utf8.RuneError && n == 1 {
				return "", telegramError("Text must be encoded in UTF-8")
			}
			out.WriteRune(r)
			i += n
		}
	}
	if len(open) > 0 {
		return "", telegramError("Can't find end tag corresponding to start tag \"%s\"", open[len(open)-1])
	}
	return out.String(), nil
}

// parseEntity decodes the entity at text[i] ('&'): &lt; &gt; &amp; &quot;
// and numeric entities, the only ones Telegram supports.
func parseEntity(text string, i int) (rune, int, error) {
	end := strings.IndexByte(text[i:], ';')
	if end < 2 || end > 12 {
		return 0, 0, telegramError("Character \"&\" at byte offset %d must be escaped as \"&amp;\"", i)
	}
	name := text[i+1 : i+end]
	switch name {
	case "lt":
		return '<', end + 1, nil
	case "gt":
		return '>', end + 1, nil
	case "amp":
		return '&', end + 1, nil
	case "quot":
		return '"', end + 1, nil
	}
	if strings.HasPrefix(name, "#") {
		digits, base := name[1:], 10
		if strings.HasPrefix(digits, "x") || strings.HasPrefix(digits, "X") {
			digits, base = digits[1:], 16
		}
		if v, err := strconv.ParseUint(digits, base, 32); err == nil && digits != "" && utf8.ValidRune(rune(v)) && v != 0 {
			return rune(v), end + 1, nil
		}
	}
	return 0, 0, telegramError("Unsupported HTML entity \"&%s;\" at byte offset %d", name, i)
}

// parseTag parses the tag at text[i] ('<') and returns its length. Like
// Telegram, it reads the tag name first (up to white space or '>'), so
// "a < b" is an unsupported tag "" rather than text.
func parseTag(text string, i int) (n int, name string, closing bool, err error) {
	if strings.HasPrefix(text[i:], "</") {
		end := strings.IndexByte(text[i:], '>')
		if end < 0 {
			return 0, "", false, telegramError("Unclosed end tag at byte offset %d", i)
		}
		name = strings.ToLower(strings.TrimSpace(text[i+2 : i+end]))
		if !supportedTags[name] {
			return 0, "", false, telegramError("Unsupported end tag \"%s\" at byte offset %d", name, i)
		}
		return end + 1, name, true, nil
	}
	nameEnd := strings.IndexAny(text[i+1:], " \t\n>")
	if nameEnd < 0 {
		return 0, "", false, telegramError("Unclosed start tag at byte offset %d", i)
	}
	name = strings.ToLower(text[i+1 : i+1+nameEnd])
	if !supportedTags[name] {
		return 0, "", false, telegramError("Unsupported start tag \"%s\" at byte offset %d", name, i)
	}
	end := tagEnd(text, i+1+nameEnd) - i
	if end < 0 {
		return 0, "", false, telegramError("Unclosed start tag at byte offset %d", i)
	}
	body := text[i+1 : i+end]
	nameEnd = len(name)
	attrs, err := parseAttributes(body[nameEnd:], i)
	if err != nil {
		return 0, "", false, err
	}
	switch name {
	case "a":
		if attrs["href"] == "" {
			return 0, "", false, telegramError("Tag \"a\" must have attribute \"href\" at byte offset %d", i)
		}
	case "span":
		if attrs["class"] != "tg-spoiler" {
			return 0, "", false, telegramError("Tag \"span\" must have class \"tg-spoiler\" at byte offset %d", i)
		}
	case "tg-emoji":
		if _, err := strconv.ParseInt(attrs["emoji-id"], 10, 64); err != nil {
			return 0, "", false, telegramError("Tag \"tg-emoji\" must have a valid attribute \"emoji-id\" at byte offset %d", i)
		}
	}
	return end + 1, name, false, nil
}

// tagEnd returns the index of the '>' closing a start tag whose attributes
// begin at j, skipping quoted values; -1 if there is none.
func tagEnd(text string, j int) int {
	var quote byte
	for ; j < len(text); j++ {
		switch c := text[j]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			return j
		}
	}
	return -1
}

// parseAttributes parses ` name="value" name='value' name=value name`;
// values may contain entities but no raw "<" or "&".
func parseAttributes(s string, tagOffset int) (map[string]string, error) {
	attrs := map[string]string{}
	for s = strings.TrimLeft(s, " \t\n"); s != ""; s = strings.TrimLeft(s, " \t\n") {
		nameEnd := strings.IndexAny(s, "= \t\n")
		if nameEnd < 0 {
			attrs[strings.ToLower(s)] = ""
			break
		}
		name := strings.ToLower(s[:nameEnd])
		s = s[nameEnd:]
		if !strings.HasPrefix(s, "=") {
			attrs[name] = ""
			continue
		}
		s = s[1:]
		var raw string
		switch {
		case strings.HasPrefix(s, `"`) || strings.HasPrefix(s, "'"):
			q := s[:1]
			end := strings.Index(s[1:], q)
			if end < 0 {
				return nil, telegramError("Unclosed attribute value at byte offset %d", tagOffset)
			}
			raw, s = s[1:1+end], s[2+end:]
		default:
			end := strings.IndexAny(s, " \t\n")
			if end < 0 {
				end = len(s)
			}
			raw, s = s[:end], s[end:]
		}
		if strings.ContainsAny(raw, "<") {
			return nil, telegramError("Character \"<\" in attribute value at byte offset %d must be escaped", tagOffset)
		}
		value, err := decodeEntities(raw, tagOffset)
		if err != nil {
			return nil, err
		}
		attrs[name] = value
	}
	return attrs, nil
}

func decodeEntities(s string, offset int) (string, error) {
	if !strings.Contains(s, "&") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '&' {
			b.WriteByte(s[i])
			i++
			continue
		}
		r, n, err := parseEntity(s, i)
		if err != nil {
			return "", fmt.Errorf("in attribute value at byte offset %d: %w", offset, err)
		}
		b.WriteRune(r)
		i += n
	}
	return b.String(), nil
}

// telegramError words a parse error as Telegram does: its descriptions
// start with a capital letter, and clients match them.
func telegramError(format string, args ...any) error {
	return fmt.Errorf(format, args...)
}

package prober

import (
	"bufio"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/vigie-monitoring/vigie/config"
)

func TestQueryResponseReadMatch(t *testing.T) {
	long := "0123456789" + strings.Repeat("-", 100) + "xyz"
	tests := []struct {
		name     string
		input    io.Reader
		bufSize  int
		re       string
		wantLine string
		wantErr  error
		wantText string // the error's text, when not wantErr
		wantLast string
	}{
		{name: "CRLF lines", input: strings.NewReader("a\r\nb\r\nc\r\n"), re: "^b$", wantLine: "b"},
		{name: "one byte at a time", input: iotest.OneByteReader(strings.NewReader("NOTICE x\r\n220 ready\r\n")), re: "^220 ready$", wantLine: "220 ready"},
		{name: "line longer than the buffer", input: strings.NewReader("x\n" + long + "\nrest\n"), bufSize: 16, re: "^0123.*xyz$", wantLine: long},
		{name: "last line without newline", input: strings.NewReader("first\nSSH-2.0-OpenSSH\r"), re: "^SSH-2.0-OpenSSH$", wantLine: "SSH-2.0-OpenSSH"},
		{name: "no match before EOF", input: strings.NewReader("one\ntwo\n"), re: "^three", wantErr: io.EOF, wantLast: "two"},
		{name: "endless line", input: io.LimitReader(qrInfiniteX{}, 1<<20), re: "^y", wantText: "line longer than 65536 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			size := tc.bufSize
			if size == 0 {
				size = 4096
			}
			s := &qrSession{r: bufio.NewReaderSize(tc.input, size)}
			line, match, err := s.readMatch(regexp.MustCompile(tc.re), testLogger(t))
			switch {
			case tc.wantText != "":
				if err == nil || err.Error() != tc.wantText {
					t.Fatalf("err = %v, want %q", err, tc.wantText)
				}
				return
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if s.lastLine() != tc.wantLast {
					t.Errorf("last line %q, want %q", s.lastLine(), tc.wantLast)
				}
				return
			case err != nil:
				t.Fatalf("unexpected error: %v", err)
			}
			if match == nil || string(line) != tc.wantLine {
				t.Errorf("matched %q (%v), want %q", line, match, tc.wantLine)
			}
		})
	}
}

type qrInfiniteX struct{}

func (qrInfiniteX) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// A later expect step reads what an earlier one left in the buffer.
func TestQueryResponseReadsAcrossSteps(t *testing.T) {
	s := &qrSession{r: bufio.NewReader(strings.NewReader("220 a\r\n250 b\r\n\x01\x02tail\n"))}
	for _, re := range []string{"^220", "^250"} {
		if _, m, err := s.readMatch(regexp.MustCompile(re), testLogger(t)); err != nil || m == nil {
			t.Fatalf("%s: %v %v", re, m, err)
		}
	}
	registry := NewRegistry()
	if err := s.readBytes(t.Context(), "\x01\x02", registry.NewGauge("probe_failed_due_to_bytes", ""), testLogger(t)); err != nil {
		t.Fatal(err)
	}
	if line, _, err := s.readMatch(regexp.MustCompile("^tail$"), testLogger(t)); err != nil || string(line) != "tail" {
		t.Fatalf("got %q, %v", line, err)
	}
}

func TestQueryResponseExpectInfoWithoutLabels(t *testing.T) {
	// labels: [] is not nil: upstream exports the family without labels.
	registry := NewRegistry()
	qr := &config.QueryResponse{Expect: config.MustNewRegexp("^ok"), Labels: []config.Label{}}
	qrRecordExpectInfo(registry, qr, []byte("ok"), []int{0, 2}, testLogger(t))
	expectMetrics(t, registry, map[string]float64{"probe_expect_info": 1})
}

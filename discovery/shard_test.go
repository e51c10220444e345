package discovery

import (
	"crypto/md5"
	"fmt"
	"strings"
	"testing"
)

func TestParseShard(t *testing.T) {
	cases := []struct {
		in      string
		want    Shard
		wantErr string
	}{
		{in: "0/1", want: Shard{0, 1}},
		{in: "2/3", want: Shard{2, 3}},
		{in: " 1/2 ", want: Shard{1, 2}},
		{in: "3/3", wantErr: "the index must be in [0, 3)"},
		{in: "0/0", wantErr: "the index must be in [0, 0)"},
		{in: "1", wantErr: "want i/n"},
		{in: "a/3", wantErr: "invalid index"},
		{in: "1/b", wantErr: "invalid count"},
		{in: "-1/3", wantErr: "invalid index"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := ParseShard(c.in)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("ParseShard(%q) error = %v, want %q", c.in, err, c.wantErr)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("ParseShard(%q) = %v, %v; want %v", c.in, got, err, c.want)
			}
		})
	}
}

// promHashmod is Prometheus's relabel hashmod as its documentation states it
// (MD5 of the ';'-joined source labels, lower 64 bits, modulo), written
// independently of hashmod to cross-check it.
func promHashmod(values []string, modulus uint64) uint64 {
	sum := md5.Sum([]byte(strings.Join(values, ";")))
	var v uint64
	for i := 8; i < 16; i++ {
		v = v<<8 | uint64(sum[i])
	}
	return v % modulus
}

func TestShardMatchesPrometheusHashmod(t *testing.T) {
	for i := range 500 {
		target, module := fmt.Sprintf("https://host%d.example.org", i), []string{"http_2xx", "tls_expiry", "icmp"}[i%3]
		for _, n := range []uint64{2, 3, 7} {
			want := promHashmod([]string{target, module}, n)
			for idx := range n {
				if got := (Shard{idx, n}).Contains(target, module); got != (idx == want) {
					t.Fatalf("shard %d/%d contains(%s, %s) = %v, Prometheus hashmod says shard %d", idx, n, target, module, got, want)
				}
			}
		}
	}
}

func TestShardsPartitionTargets(t *testing.T) {
	const n = 4
	counts := make([]int, n)
	for i := range 4000 {
		target := fmt.Sprintf("10.0.%d.%d:443", i/256, i%256)
		owners := 0
		for idx := range uint64(n) {
			if (Shard{idx, n}).Contains(target, "tcp_connect") {
				owners++
				counts[idx]++
			}
		}
		if owners != 1 {
			t.Fatalf("%s is in %d shards, want exactly 1", target, owners)
		}
	}
	for idx, c := range counts {
		// A uniform hash puts 1000 ± a few dozen in each shard.
		if c < 800 || c > 1200 {
			t.Errorf("shard %d holds %d of 4000 targets: the split is not even", idx, c)
		}
	}
	if !AllTargets().Contains("anything", "any") {
		t.Error("the default shard must hold every target")
	}
}

// TestShardContainsAllocatesNothing: Contains runs for every pair read by
// every shard.
func TestShardContainsAllocatesNothing(t *testing.T) {
	s := Shard{1, 3}
	if n := testing.AllocsPerRun(100, func() { s.Contains("http://127.0.0.1:9/t/http-12345", "http_2xx") }); n != 0 {
		t.Errorf("Contains allocates %v times a pair", n)
	}
}

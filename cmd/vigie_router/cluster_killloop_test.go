package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// TestClusterKillLoop SIGKILLs random members of a three-router cluster at
// random moments while targets go down and up, restarts them with their
// disk, and counts the notifications lost and duplicated. It is a
// measurement, run by `make cluster-killloop` (VIGIE_CLUSTER_KILLS=n, and
// VIGIE_CLUSTER_SEED to replay a run); it fails when a notification is
// lost, and prints both figures.
func TestClusterKillLoop(t *testing.T) {
	kills, _ := strconv.Atoi(os.Getenv("VIGIE_CLUSTER_KILLS"))
	if kills <= 0 {
		t.Skip("the kill loop runs with VIGIE_CLUSTER_KILLS=n (make cluster-killloop)")
	}
	seed, err := strconv.ParseUint(os.Getenv("VIGIE_CLUSTER_SEED"), 10, 64)
	if err != nil {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (VIGIE_CLUSTER_SEED to replay)", seed)
	rng := rand.New(rand.NewPCG(seed, seed))

	consul := testenv.StartConsul(t)
	tg, tokenFile := startTelegram(t)
	// Each send takes a while, so that some kills land in the middle of
	// one (the one case where a duplicate is allowed).
	provider := newSwitchableProvider(t, tg.URL)
	provider.delay = 300 * time.Millisecond
	var targets []string
	for i := 0; i < 6; i++ {
		targets = append(targets, fmt.Sprintf("https://k%02d.example", i))
	}
	x := newClusterExporters(t, 3, targets)
	names := []string{"r1", "r2", "r3"}
	storage := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	rs := make([]*clusterRouter, 3)
	for i, name := range names {
		rs[i] = startClusterRouter(t, name, x.srvs[i].URL, provider.srv.URL, tokenFile, consul.Addr, storage[i])
	}
	for _, r := range rs {
		waitCond(t, r.name+" to see the cluster", seesCluster(t, r, names...))
	}

	down := map[string]bool{}
	want := map[string][2]int{} // DOWN, UP expected per target
	count := func(tgt string, isDown bool) int {
		d, u, _ := tally(tg.Messages(), targets)
		if isDown {
			return d[tgt]
		}
		return u[tgt]
	}
	late := 0
	// owner finds who probes tgt now, from the exporters' counts.
	owner := func(tgt string) int {
		before := x.counts()
		x.waitRounds(t, 1)
		after := x.counts()
		for i := range after {
			if after[i][tgt] > before[i][tgt] {
				return i
			}
		}
		return rng.IntN(len(rs))
	}
	ownerKills := 0
	for i := 0; i < kills; i++ {
		tgt := targets[rng.IntN(len(targets))]
		// Half of the kills hit the member that probes the target, the
		// one about to notify.
		v := rng.IntN(len(rs))
		if rng.IntN(2) == 0 {
			v = owner(tgt)
			ownerKills++
		}
		down[tgt] = !down[tgt]
		w := want[tgt]
		if down[tgt] {
			w[0]++
		} else {
			w[1]++
		}
		want[tgt] = w
		x.setDown(down[tgt], tgt)

		time.Sleep(time.Duration(rng.IntN(3000)) * time.Millisecond)
		_ = rs[v].p.cmd.Process.Signal(syscall.SIGKILL)
		_ = rs[v].p.cmd.Wait()
		time.Sleep(time.Duration(rng.IntN(5000)) * time.Millisecond)
		rs[v] = startClusterRouter(t, names[v], x.srvs[v].URL, provider.srv.URL, tokenFile, consul.Addr, storage[v])

		expect := w[1]
		if down[tgt] {
			expect = w[0]
		}
		deadline := time.Now().Add(60 * time.Second)
		for count(tgt, down[tgt]) < expect && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if count(tgt, down[tgt]) < expect {
			late++
		}
		t.Logf("kill %d/%d: %s %s, killed %s", i+1, kills, tgt, map[bool]string{true: "down", false: "up"}[down[tgt]], names[v])
	}

	// Settle: every member back, every outbox empty, a few more rounds.
	for _, r := range rs {
		waitCond(t, r.name+" to see the cluster", seesCluster(t, r, names...))
	}
	waitCond(t, "every outbox to empty", func() bool {
		for _, r := range rs {
			if metric(t, r.url, "vigie_router_outbox_depth") != 0 {
				return false
			}
		}
		return true
	})
	x.waitRounds(t, 5)

	gotDown, gotUp, other := tally(tg.Messages(), targets)
	lost, dup, expected := 0, 0, 0
	for _, tgt := range targets {
		for k, got := range []int{gotDown[tgt], gotUp[tgt]} {
			exp := want[tgt][k]
			expected += exp
			if got != exp {
				t.Logf("%s: %d %s messages, %d expected", tgt, got, []string{"DOWN", "UP"}[k], exp)
			}
			if got < exp {
				lost += exp - got
			} else {
				dup += got - exp
			}
		}
	}
	fmt.Printf("cluster kill loop: %d kills (%d of the target's owner), %d notifications expected, %d delivered, %d lost, %d duplicated (%d sends cut by a kill after the provider took them; %d late beyond 60 s), seed %d\n",
		kills, ownerKills, expected, len(tg.Messages())-len(other), lost, dup, provider.cuts(), late, seed)
	if len(other) > 0 {
		t.Errorf("unexpected messages: %q", other)
	}
	if lost+dup > 0 {
		for i, m := range tg.Messages() {
			t.Logf("message %d:\n%s", i+1, m.PlainText)
		}
	}
	if lost > 0 {
		t.Errorf("%d notifications lost", lost)
	}
	// A duplicate is allowed only for a send cut by a kill.
	if dup > provider.cuts() {
		t.Errorf("%d duplicates, more than the %d sends cut by a kill", dup, provider.cuts())
	}
}

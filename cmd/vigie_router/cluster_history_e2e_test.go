package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigie-monitoring/vigie/alertrouter/cluster"
	"github.com/vigie-monitoring/vigie/internal/testenv"
)

// historyMember starts member name on its listen address and public
// page address (kept across restarts: its advertise URL is its listen
// address), with the public status page of group "shop".
func historyMember(t *testing.T, name, cfg, storage, addr, public string) *clusterRouter {
	t.Helper()
	p := start(t, filepath.Join(binaries(t), "vigie_router"),
		"--config.file="+cfg, "--storage.path="+storage, "--web.listen-address="+addr, "--log.level=debug",
		"--web.public-status=shop", "--web.public-status.listen-address="+public)
	waitHTTP(t, "http://"+addr+"/-/ready", http.StatusOK)
	return &clusterRouter{name: name, p: p, url: "http://" + addr}
}

type historyAnswer struct {
	Check struct {
		State string `json:"state"`
	} `json:"check"`
	Buckets map[string][]struct {
		Rounds    int `json:"rounds"`
		Successes int `json:"successes"`
	} `json:"buckets"`
	Incidents []struct {
		Start string `json:"start"`
		End   string `json:"end"`
	} `json:"incidents"`
	Unanswered []string `json:"unanswered"`
}

func getJSON(t *testing.T, u string, into any) bool {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(into) == nil
}

// TestClusterHistoryAcrossMoves: a check's history, the groups and the
// public status page are the cluster's on every member. Check "moves"
// is r2's; r2 stops and r1 takes it over, sees it go DOWN and come back
// UP; r2 starts again and takes it back (r1 forgets it). On either
// member, the check's history has r1's rounds (its failures) and its
// incident, and r2's rounds; /groups, /api/v1/groups and the public
// page count the cluster's checks.
func TestClusterHistoryAcrossMoves(t *testing.T) {
	consul := testenv.StartConsul(t)
	tg, tokenFile := startTelegram(t)
	var moves string
	others := []string{}
	for i := 0; moves == "" || len(others) < 3; i++ {
		tgt := fmt.Sprintf("https://h%02d.example", i)
		if moves == "" && cluster.OwnerOf([]string{"r1", "r2"}, "http_2xx "+tgt) == "r2" {
			moves = tgt
		} else if len(others) < 3 {
			others = append(others, tgt)
		}
	}
	all := append([]string{moves}, others...)
	x := newLabelledExporters(t, 2, all, `"group":"shop"`)
	names := []string{"r1", "r2"}
	addrs, publics, storages, cfgs := make([]string, 2), make([]string, 2), make([]string, 2), make([]string, 2)
	rs := make([]*clusterRouter, 2)
	for i, name := range names {
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		publics[i] = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		storages[i] = t.TempDir()
		cfgs[i] = writeConfig(t, fmt.Sprintf(clusterRouterConfig, x.srvs[i].URL, tg.URL, tokenFile, name, consul.Addr, "vigie-test/history"))
		rs[i] = historyMember(t, name, cfgs[i], storages[i], addrs[i], publics[i])
	}
	for _, r := range rs {
		waitCond(t, r.name+" to see r1, r2", seesCluster(t, r, "r1", "r2"))
	}
	waitCond(t, "r2 to probe "+moves, func() bool { return x.counts()[1][moves] >= 3 })

	// r2 stops: r1 takes "moves" over and sees it DOWN, then UP.
	if err := rs[1].p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = rs[1].p.cmd.Wait()
	waitCond(t, "r1 to own every check", func() bool { n, ok := ownedSum(t, 1, rs[0]); return ok && n == len(all) })
	// What r1 probed of it before (in the moment at its start when it
	// owned every check) is not its history: one round, not kept.
	r1Before := x.counts()[0][moves]
	x.setDown(true, moves)
	waitCond(t, "the DOWN of "+moves, func() bool { return countWith(messagesAbout(tg, moves), "DOWN") == 1 })
	x.setDown(false, moves)
	waitCond(t, "the UP of "+moves, func() bool { return countWith(messagesAbout(tg, moves), "back up after") == 1 })

	// r2 comes back and takes it back: r1 forgets it.
	before := x.counts()[1][moves]
	rs[1] = historyMember(t, "r2", cfgs[1], storages[1], addrs[1], publics[1])
	for _, r := range rs {
		waitCond(t, r.name+" to see r1, r2 again", seesCluster(t, r, "r1", "r2"))
	}
	waitCond(t, "r2 to probe "+moves+" again", func() bool { return x.counts()[1][moves] >= before+2 })
	byR1 := x.counts()[0][moves] - r1Before

	// Either member shows the check's whole history: r1's rounds (all
	// of them once r1 flushed), its failures and its incident.
	path := "/api/v1/checks/" + url.PathEscape("http_2xx "+moves) + "/history"
	for _, r := range rs {
		var last historyAnswer
		rounds, ok := 0, 0
		deadline := time.Now().Add(90 * time.Second)
		for {
			var h historyAnswer
			if getJSON(t, r.url+path, &h) {
				last = h
				rounds, ok = 0, 0
				for _, b := range h.Buckets["5m"] {
					rounds += b.Rounds
					ok += b.Successes
				}
				ended := len(h.Incidents) == 1 && h.Incidents[0].End != ""
				if rounds >= byR1+3 && rounds-ok >= 2 && ended && len(h.Unanswered) == 0 {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the history of %s does not show r1's part (r1 probed it %d times after r2 stopped, r2 %d times in all): %d rounds, %d up, %+v",
					r.name, moves, byR1, x.counts()[1][moves], rounds, ok, last)
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Logf("%s: %s's history: %d rounds, %d up, %d incident(s); r1 probed it %d times", r.name, moves, rounds, ok, len(last.Incidents), byR1)
		code, page := getBody(t, r.url+"/checks/"+url.PathEscape("http_2xx "+moves))
		if code != http.StatusOK || !strings.Contains(page, `<table id="incidents">`) {
			t.Errorf("%s: the page of %s (%d) shows no incident", r.name, moves, code)
		}
	}

	// The groups and the public page count every check of the cluster.
	for i, r := range rs {
		waitCond(t, r.name+"'s groups to count the cluster's checks", func() bool {
			var g struct {
				Groups []struct {
					Value  string         `json:"value"`
					Checks int            `json:"checks"`
					Rounds map[string]int `json:"rounds"`
				} `json:"groups"`
				Unanswered []string `json:"unanswered"`
			}
			if !getJSON(t, r.url+"/api/v1/groups?by=group", &g) || len(g.Groups) != 1 || len(g.Unanswered) != 0 {
				return false
			}
			_, page := getBody(t, r.url+"/groups?by=group")
			_, public := getBody(t, "http://"+publics[i]+"/")
			return g.Groups[0].Value == "shop" && g.Groups[0].Checks == len(all) && g.Groups[0].Rounds["24h"] > byR1 &&
				strings.Contains(page, fmt.Sprintf(`<td class="num">%d</td>`, len(all))) &&
				strings.Contains(public, fmt.Sprintf("%d checks", len(all)))
		})
	}
}

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is one finished process.
type proc struct {
	Args      []string
	Start     time.Time
	End       time.Time
	MaxRSSKiB int64
	CPU       time.Duration // user + system
	Stdout    string
	Stderr    string
	ExitCode  int
}

func (p *proc) Wall() time.Duration { return p.End.Sub(p.Start) }

// run runs a process and measures its wall time, peak RSS (getrusage ru_maxrss) and
// CPU time. A non-zero exit is an error unless allowed.
func run(ctx context.Context, allowExit []int, name string, args ...string) (*proc, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	p := &proc{Args: append([]string{name}, args...)}
	p.Start = time.Now()
	err := cmd.Run()
	p.End = time.Now()
	p.Stdout, p.Stderr = stdout.String(), stderr.String()
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			p.MaxRSSKiB = ru.Maxrss
			p.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
		p.ExitCode = cmd.ProcessState.ExitCode()
	}
	var exitErr *exec.ExitError
	if err != nil && errors.As(err, &exitErr) {
		for _, c := range allowExit {
			if c == p.ExitCode {
				return p, nil
			}
		}
	}
	if err != nil {
		return p, fmt.Errorf("%s: %w\nstdout:\n%s\nstderr:\n%s", strings.Join(p.Args, " "), err, tail(p.Stdout), tail(p.Stderr))
	}
	return p, nil
}

func tail(s string) string {
	const max = 4000
	if len(s) > max {
		return "…" + s[len(s)-max:]
	}
	return s
}

// sampleOf aggregates the processes of one sample (a kubectl twin is several
// processes run one after the other): wall from the first start to the last end,
// the largest peak RSS, the sum of CPU times.
func sampleOf(ps ...*proc) Sample {
	s := Sample{Processes: len(ps)}
	var cpu time.Duration
	for _, p := range ps {
		cpu += p.CPU
		if mib := float64(p.MaxRSSKiB) / 1024; mib > s.MaxRSSMiB {
			s.MaxRSSMiB = mib
		}
	}
	s.Seconds = ps[len(ps)-1].End.Sub(ps[0].Start).Seconds()
	s.CPUSeconds = cpu.Seconds()
	return s
}

var dbctlRequestsRE = regexp.MustCompile(`API requests: total (\d+) \(([^)]*)\)`)

// dbctlRequests parses the `-v` line "API requests: total 7 (GET 6, PATCH 1)".
func dbctlRequests(stderr string) map[string]int64 {
	m := dbctlRequestsRE.FindStringSubmatch(stderr)
	if m == nil {
		return nil
	}
	out := map[string]int64{}
	for _, kv := range strings.Split(m[2], ", ") {
		f := strings.Fields(kv)
		if len(f) != 2 {
			continue
		}
		n, _ := strconv.ParseInt(f[1], 10, 64)
		out[f[0]] = n
	}
	return out
}

// kubectlResponseRE matches client-go's request log at -v=6 and above
// (round_trippers.go: `"Response" verb="GET" url="https://…" status="200 OK" …`).
var kubectlResponseRE = regexp.MustCompile(`"Response" verb="([A-Z]+)" url="([^"]+)"`)

// kubectlRequests counts the requests in kubectl -v=6 logs, by verb, the way dbctl's
// counter names them (LIST for a GET of a collection, WATCH for ?watch=true).
func kubectlRequests(logs ...string) map[string]int64 {
	out := map[string]int64{}
	for _, l := range logs {
		for _, m := range kubectlResponseRE.FindAllStringSubmatch(l, -1) {
			out[auditVerb(m[1], m[2])]++
		}
	}
	return out
}

func auditVerb(method, url string) string {
	if method != "GET" {
		return method
	}
	path, query, _ := strings.Cut(url, "?")
	if strings.Contains("&"+query, "&watch=true") || strings.Contains("&"+query, "&watch=1") {
		return "WATCH"
	}
	if i := strings.Index(path, "://"); i >= 0 {
		path = path[i+3:]
		if j := strings.Index(path, "/"); j >= 0 {
			path = path[j:]
		} else {
			path = "/"
		}
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	n := len(parts)
	if n > 0 && (parts[0] == "api" && n%2 == 1 && n > 2 || parts[0] == "apis" && n%2 == 0 && n > 3) {
		return "LIST"
	}
	return "GET" // discovery (/api, /apis, /openapi/…) and single objects
}

func total(m map[string]int64) int64 {
	var t int64
	for _, n := range m {
		t += n
	}
	return t
}

func formatRequests(m map[string]int64) string {
	if m == nil {
		return "n/a"
	}
	if len(m) == 0 {
		return "0"
	}
	verbs := make([]string, 0, len(m))
	for v := range m {
		verbs = append(verbs, v)
	}
	sortStrings(verbs)
	parts := make([]string, 0, len(verbs))
	for _, v := range verbs {
		parts = append(parts, fmt.Sprintf("%s %d", v, m[v]))
	}
	return fmt.Sprintf("%d (%s)", total(m), strings.Join(parts, ", "))
}

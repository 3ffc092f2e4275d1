package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// metricSample is one line of the Prometheus text format: name{labels} value.
type metricSample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// metrics is one scrape of an endpoint.
type metrics []metricSample

// scrape reads url (a /metrics endpoint in the text format).
func scrape(ctx context.Context, url string) (metrics, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return parseMetrics(resp.Body)
}

// parseMetrics parses the text format (comments skipped; label values without
// escaped quotes, as every metric scraped here has).
func parseMetrics(r io.Reader) (metrics, error) {
	var out metrics
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s := metricSample{Labels: map[string]string{}}
		rest := line
		if i := strings.IndexByte(line, '{'); i >= 0 {
			j := strings.LastIndexByte(line, '}')
			if j < i {
				return nil, fmt.Errorf("bad metric line %q", line)
			}
			s.Name = line[:i]
			for _, kv := range splitLabels(line[i+1 : j]) {
				k, v, _ := strings.Cut(kv, "=")
				s.Labels[k] = strings.Trim(v, `"`)
			}
			rest = strings.TrimSpace(line[j+1:])
		} else {
			s.Name, rest, _ = strings.Cut(line, " ")
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return nil, fmt.Errorf("bad metric line %q", line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("bad metric line %q: %w", line, err)
		}
		s.Value = v
		out = append(out, s)
	}
	return out, sc.Err()
}

// splitLabels splits `a="x",b="y,z"` at the commas outside quotes.
func splitLabels(s string) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// sum adds the values of name's samples.
func (m metrics) sum(name string) float64 {
	var t float64
	for _, s := range m {
		if s.Name == name {
			t += s.Value
		}
	}
	return t
}

// has tells whether name has at least one sample.
func (m metrics) has(name string) bool {
	for _, s := range m {
		if s.Name == name {
			return true
		}
	}
	return false
}

// byLabels sums name's samples by the values of the given labels, joined with " ".
func (m metrics) byLabels(name string, labels ...string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range m {
		if s.Name != name {
			continue
		}
		var k []string
		for _, l := range labels {
			k = append(k, s.Labels[l])
		}
		out[strings.Join(k, " ")] += s.Value
	}
	return out
}

// delta returns b − a of name by the given labels (counters), without zeros.
func delta(a, b metrics, name string, labels ...string) map[string]int64 {
	before, after := a.byLabels(name, labels...), b.byLabels(name, labels...)
	out := map[string]int64{}
	for k, v := range after {
		if d := int64(v - before[k]); d != 0 {
			out[k] = d
		}
	}
	return out
}

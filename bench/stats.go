package main

import (
	"math"
	"sort"
)

// Stats summarises samples of one metric.
type Stats struct {
	N      int     `json:"n"`
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	Mean   float64 `json:"mean"`
}

func statsOf(xs []float64) Stats {
	if len(xs) == 0 {
		return Stats{}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	var sum float64
	for _, x := range s {
		sum += x
	}
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Stats{N: len(s), Median: round(med), Min: round(s[0]), Max: round(s[len(s)-1]), Mean: round(sum / float64(len(s)))}
}

func round(x float64) float64 { return math.Round(x*1e4) / 1e4 }

func sortStrings(s []string) { sort.Strings(s) }

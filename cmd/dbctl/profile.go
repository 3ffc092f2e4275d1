package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/dbctl-io/dbctl/cmd/root"
)

// Profiling for performance work (bench/, BENCHMARKS.md): with DBCTL_CPUPROFILE=FILE
// the whole command (everything after package initialisation, which
// GODEBUG=inittrace=1 reports) runs under the CPU profiler; with
// DBCTL_MEMPROFILE=FILE a heap profile is written at the end. Unset, nothing changes.
//
// It runs from this package's init, the last one to run, because main exits with
// os.Exit, which would skip a deferred StopCPUProfile.
func init() {
	cpu, mem := os.Getenv("DBCTL_CPUPROFILE"), os.Getenv("DBCTL_MEMPROFILE")
	if cpu == "" && mem == "" {
		return
	}
	if cpu != "" {
		f, err := os.Create(cpu)
		if err != nil {
			fmt.Fprintf(os.Stderr, "DBCTL_CPUPROFILE: %v\n", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(os.Stderr, "DBCTL_CPUPROFILE: %v\n", err)
			os.Exit(1)
		}
	}
	code := root.Main()
	if cpu != "" {
		pprof.StopCPUProfile()
	}
	if mem != "" {
		if f, err := os.Create(mem); err == nil {
			runtime.GC()
			_ = pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
	}
	os.Exit(int(code))
}

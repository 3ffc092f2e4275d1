package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// startProfiling is for performance work (bench/, BENCHMARKS.md): with
// DBCTL_CPUPROFILE=FILE the command runs under the CPU profiler; with
// DBCTL_MEMPROFILE=FILE an allocation profile is written at the end. The returned
// function stops them (main calls it before os.Exit, which skips deferred calls).
// Unset, nothing changes.
func startProfiling() (stop func()) {
	cpu, mem := os.Getenv("DBCTL_CPUPROFILE"), os.Getenv("DBCTL_MEMPROFILE")
	stopCPU := func() {}
	if cpu != "" {
		f, err := os.Create(cpu)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "DBCTL_CPUPROFILE: %v\n", err)
			os.Exit(1)
		}
		stopCPU = func() { pprof.StopCPUProfile(); f.Close() }
	}
	return func() {
		stopCPU()
		if mem == "" {
			return
		}
		if f, err := os.Create(mem); err == nil {
			runtime.GC()
			_ = pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
	}
}

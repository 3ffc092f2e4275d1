#!/usr/bin/env bash
# dbctl vs kubectl on one throwaway kwok cluster (issue 7). `make bench` runs this.
#
# Usage: bench/run.sh [--smoke] [harness flags...]
#   (no flag)  the full suite: every scenario, 7 interleaved samples per variant
#              (21 for the sub-second single-Database ones), then the controller
#              scenario (500 Databases under `dbctl controller` among 5,000 unrelated
#              Secrets and ConfigMaps, ~25 min); writes bench/results.json and the
#              numbers section of BENCHMARKS.md. About 1.5 hours on 2 cores.
#   --smoke    the CI version (`make bench-smoke`): startup, no-op, plan and cold
#              reconcile of one Database, 1-2 samples each, no scale scenarios, and
#              the controller scenario at 20 Databases and 200 unrelated objects with
#              15 s settle and steady windows; prints the numbers, writes them to
#              $BENCH_WORK/results-smoke.json, judges no target (too few samples);
#              exits 1 on a real error (a cluster, process or request that fails, a
#              Database never Ready) or when the request accounting check (a no-op
#              reconcile persists nothing and makes at most children + 2 requests)
#              fails; never on a time.
#   Any other argument goes to the harness (go run ./bench -h), e.g.
#     bench/run.sh -only noop-1,plan-1 -iterations 5
#     bench/run.sh -only controller -merge   # only the controller scenario, the rest kept
#     bench/run.sh -baseline bench/results-before.json -label "after: …"
#
# Environment:
#   BENCH_NODES     kwok nodes (default 10: 110 pods each; the scale scenarios run
#                   up to ~650 pods at once)
#   BENCH_CLUSTER   cluster name (default dbctl-bench-<pid>); deleted at the end, also
#                   on failure or interrupt, unless BENCH_KEEP_CLUSTER=1
#   BENCH_WORK      scratch directory (default: a new temporary one, removed at the end)
#   BENCH_DBCTL     a dbctl binary to measure instead of building this checkout (e.g. a
#                   build with a proposed change); BENCH_OUT, BENCH_MD: where the full
#                   run writes (default bench/results.json, BENCHMARKS.md; BENCH_MD=
#                   writes no Markdown)
#
# Needs what `make demo` needs: Go and the Go module proxy (hack/k8s-tools.sh builds
# kube-apiserver, etcd, kubectl, kwok… once and caches them).
set -euo pipefail

# The whole script is one function, read before it runs: editing this file while a
# long benchmark runs cannot change what the running one executes.
main() {
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

smoke=0
args=()
for a in "$@"; do
  if [[ "$a" == --smoke ]]; then smoke=1; else args+=("$a"); fi
done

log() { printf '[bench] %s\n' "$*" >&2; }

work="${BENCH_WORK:-}"
own_work=0
if [[ -z "$work" ]]; then
  work="$(mktemp -d "${TMPDIR:-/tmp}/dbctl-bench.XXXXXX")"
  own_work=1
fi
mkdir -p "$work"

export DBCTL_CLUSTER="${BENCH_CLUSTER:-dbctl-bench-$$}"
export DBCTL_NODES="${BENCH_NODES:-10}"
if ((smoke)); then export DBCTL_NODES="${BENCH_NODES:-2}"; fi

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ "${BENCH_KEEP_CLUSTER:-}" == 1 ]]; then
    log "keeping cluster $DBCTL_CLUSTER (BENCH_KEEP_CLUSTER=1): hack/cluster.sh down with DBCTL_CLUSTER=$DBCTL_CLUSTER deletes it"
  else
    bash "$repo/hack/cluster.sh" down || log "warning: could not delete cluster $DBCTL_CLUSTER"
  fi
  if ((own_work)); then rm -rf "$work"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start=$SECONDS
tools="$(bash "$repo/hack/k8s-tools.sh" | tail -n 1)"
[[ -x "$tools/kubectl" ]] || { log "no kubectl in $tools"; exit 1; }

# dbctl as `make build` builds it (version stamped), and the harness.
version="$(git describe --tags --always --dirty 2>/dev/null || echo dev)"
log "building dbctl ($version) and the harness"
if [[ -n "${BENCH_DBCTL:-}" ]]; then
  cp "$BENCH_DBCTL" "$work/dbctl"
else
  go build -trimpath -ldflags "-X github.com/dbctl-io/dbctl/cmd/version.Version=$version" -o "$work/dbctl" ./cmd/dbctl
fi
go build -o "$work/bench" ./bench

kubeconfig_line="$(bash "$repo/hack/cluster.sh" up | tail -n 1)"
kubeconfig="${kubeconfig_line#export KUBECONFIG=}"
log "cluster $DBCTL_CLUSTER up ($DBCTL_NODES nodes) after $((SECONDS - start))s"

common=(-dbctl "$work/dbctl" -kubectl "$tools/kubectl" -kubeconfig "$kubeconfig" -work "$work" -nodes "$DBCTL_NODES")
if ((smoke)); then
  "$work/bench" "${common[@]}" -smoke -check-accounting -iterations 1 -cheap-factor 2 -scale "" \
    -controller-databases 20 -controller-unrelated 200 -controller-settle 15s -controller-steady 15s -controller-late 0 \
    -out "$work/results-smoke.json" -markdown "" ${args[@]+"${args[@]}"}
else
  "$work/bench" "${common[@]}" -out "${BENCH_OUT:-$repo/bench/results.json}" -markdown "${BENCH_MD-$repo/BENCHMARKS.md}" ${args[@]+"${args[@]}"}
fi
log "done in $((SECONDS - start))s"
}

main "$@"
exit

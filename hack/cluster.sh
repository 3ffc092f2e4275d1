#!/usr/bin/env bash
# A local kwok cluster for dbctl's demo and end-to-end tests: a real control plane
# (etcd, kube-apiserver, kube-controller-manager with the StatefulSet controller and the
# PV binder, kube-scheduler) run as local processes on 127.0.0.1, with kwok simulating
# the nodes and making pods Running/Ready. No container runtime, no downloads: the
# binaries come from hack/k8s-tools.sh (built from the Go module proxy, cached).
#
# Usage: hack/cluster.sh up|down|kubeconfig|status|list
#   up          create the cluster, or reuse it if it is already running (restart it if
#               its processes are gone), scale it to $DBCTL_NODES nodes, install the
#               default StorageClass, wait until it is usable; prints
#               `export KUBECONFIG=...` on stdout (eval "$(hack/cluster.sh up)")
#   down        delete the cluster and its files (idempotent)
#   kubeconfig  print the path of the cluster's kubeconfig
#   status      print whether the cluster is running, its nodes; exit 1 when it is not running
#   list        print the names of the clusters in $KWOK_WORKDIR
#
# Environment:
#   DBCTL_CLUSTER    cluster name (default dbctl); several clusters can run side by side
#   DBCTL_NODES      number of kwok nodes (default 3)
#   DBCTL_STATE_DIR  default ${XDG_STATE_HOME:-$HOME/.local/state}/dbctl
#   KWOK_WORKDIR     kwokctl's work directory (default $DBCTL_STATE_DIR/kwok); the cluster
#                    lives in $KWOK_WORKDIR/clusters/$DBCTL_CLUSTER
#
# Storage: PVCs of the default StorageClass "kwok-volume" (hence PVCs without a class,
# e.g. from StatefulSet volumeClaimTemplates) get a PersistentVolume of the requested
# size at once, deleted with the claim: see hack/kwok/stages.yaml.
# Ports: kwokctl picks free ports (below 32768); creations are serialised per user so
# that two concurrent `up`s do not pick the same ones.
# kwokctl never touches ~/.kube/config or $KUBECONFIG: use the kubeconfig printed here.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
name="${DBCTL_CLUSTER:-dbctl}"
nodes="${DBCTL_NODES:-3}"
state="${DBCTL_STATE_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/dbctl}"
export KWOK_WORKDIR="${KWOK_WORKDIR:-$state/kwok}"
cluster_dir="$KWOK_WORKDIR/clusters/$name"
kubeconfig="$cluster_dir/kubeconfig.yaml"

log() { printf '[cluster %s] %s\n' "$name" "$*" >&2; }
die() { log "error: $*"; exit 1; }
usage() { sed -n '/^# Usage:/,/^# kwokctl never/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[[ "$name" =~ ^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$ ]] \
  || die "DBCTL_CLUSTER must be lowercase letters, digits and '-' (got '$name')"
[[ "$nodes" =~ ^[0-9]+$ ]] || die "DBCTL_NODES must be a number (got '$nodes')"

# tools [build]: puts hack/k8s-tools.sh's bin directory on PATH (kwokctl looks kubectl
# up there too). With "build", builds what is missing (seconds when cached).
tools() {
  if [[ "${1:-}" == build ]]; then
    bin="$(bash "$repo/hack/k8s-tools.sh" | tail -n 1)"
  else
    bin="$(bash "$repo/hack/k8s-tools.sh" --print-dir)"
  fi
  [[ -x "$bin/kwokctl" && -x "$bin/kubectl" ]] || die "no kwokctl/kubectl in $bin: run 'make tools' (hack/k8s-tools.sh)"
  export PATH="$bin:$PATH"
}

# quiet CMD...: runs CMD, showing its (JSON log) output only when it fails.
quiet() {
  local out
  if ! out="$("$@" 2>&1)"; then
    printf '%s\n' "$out" >&2
    return 1
  fi
}

k() { kubectl --kubeconfig "$kubeconfig" --request-timeout=10s "$@"; }

running() { [[ -f "$kubeconfig" ]] && k get --raw /readyz >/dev/null 2>&1; }

# retry SECONDS CMD...: runs CMD every half second until it succeeds or SECONDS pass.
retry() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || { "$@" >&2 || true; return 1; }
    sleep 0.5
  done
}

create() {
  # kwokctl picks ports by probing them; they are bound only once the processes run,
  # so two creations at once (parallel e2e runs) could pick the same. Serialise them.
  # flock -o: the control plane processes kwokctl starts must not inherit the lock.
  local lock
  lock="${TMPDIR:-/tmp}/dbctl-kwok-create.$(id -u).lock"
  # kubeVersion in hack/kwok/kwokctl.yaml selects the components' flags; follow the
  # binaries when hack/k8s-tools.sh was run with another K8S_VERSION.
  local version
  version="$("$bin/kube-apiserver" --version | sed -n 's/^Kubernetes //p')"
  log "creating (kwokctl, binary runtime, 127.0.0.1, Kubernetes $version)"
  KWOK_KUBE_VERSION="$version" quiet flock -o "$lock" kwokctl create cluster --name "$name" \
    --config "$repo/hack/kwok/kwokctl.yaml" --config "$repo/hack/kwok/stages.yaml" \
    --kubeconfig "" \
    --etcd-binary "$bin/etcd" \
    --kube-apiserver-binary "$bin/kube-apiserver" \
    --kube-controller-manager-binary "$bin/kube-controller-manager" \
    --kube-scheduler-binary "$bin/kube-scheduler" \
    --kwok-controller-binary "$bin/kwok" \
    --wait 2m
}

delete() {
  # kwokctl removes the cluster's context from the kubeconfig it is given: give it the
  # cluster's own (deleted with it), never ~/.kube/config.
  quiet kwokctl delete cluster --name "$name" --kubeconfig "$kubeconfig" --force
}

cmd_up() {
  tools build
  local start=$SECONDS
  if running; then
    log "already running, reusing it"
  elif [[ -f "$cluster_dir/kwok.yaml" ]]; then
    log "exists but is not running: starting it"
    if ! { quiet kwokctl start cluster --name "$name" && retry 60 running; }; then
      log "could not start it: recreating it"
      delete || rm -rf "$cluster_dir"
      create
    fi
  else
    rm -rf "$cluster_dir" # a half-created cluster without its config
    create
  fi
  quiet kwokctl scale node --name "$name" --replicas "$nodes"
  quiet k apply --server-side --field-manager=dbctl-cluster -f "$repo/hack/kwok/storageclass.yaml"
  # Usable = nodes Ready, and the default ServiceAccount exists (pods need it).
  if ((nodes > 0)); then
    quiet k wait --for=condition=Ready node --all --timeout=60s
  fi
  retry 60 k get serviceaccount default -n default || die "the default ServiceAccount did not appear"
  log "ready in $((SECONDS - start))s: $nodes nodes, $(k get --raw /version | sed -n 's/.*"gitVersion": "\(.*\)".*/\1/p')"
  echo "export KUBECONFIG=$kubeconfig"
}

cmd_down() {
  if [[ ! -d "$cluster_dir" ]]; then
    log "does not exist"
    return 0
  fi
  tools
  delete || die "kwokctl delete cluster failed; its files are in $cluster_dir"
  rm -f "$KWOK_WORKDIR/.$name.lock"
  log "deleted"
}

cmd_kubeconfig() {
  [[ -f "$kubeconfig" ]] || die "does not exist: run 'hack/cluster.sh up' (DBCTL_CLUSTER=$name)"
  echo "$kubeconfig"
}

cmd_status() {
  if [[ ! -f "$cluster_dir/kwok.yaml" ]]; then
    echo "cluster $name: does not exist"
    return 1
  fi
  tools
  if ! running; then
    echo "cluster $name: not running (hack/cluster.sh up starts it)"
    return 1
  fi
  echo "cluster $name: running, kubeconfig $kubeconfig"
  k get nodes
}

cmd_list() {
  local d
  for d in "$KWOK_WORKDIR"/clusters/*/; do
    [[ -f "$d/kwok.yaml" ]] && basename "$d"
  done
  return 0
}

# up and down run under a lock per cluster, held by a flock process around this script:
# a lock fd opened here would be inherited by the control plane processes kwokctl
# starts (and held for their whole life).
locked() {
  if [[ "${_DBCTL_CLUSTER_LOCKED:-}" != "$KWOK_WORKDIR/$name" ]]; then
    mkdir -p "$KWOK_WORKDIR"
    _DBCTL_CLUSTER_LOCKED="$KWOK_WORKDIR/$name" exec flock -o "$KWOK_WORKDIR/.$name.lock" bash "${BASH_SOURCE[0]}" "$@"
  fi
}

case "${1:-}" in
  up) locked "$@"; cmd_up ;;
  down) [[ -d "$cluster_dir" ]] && locked "$@"; cmd_down ;;
  kubeconfig) cmd_kubeconfig ;;
  status) cmd_status ;;
  list) cmd_list ;;
  *) usage ;;
esac

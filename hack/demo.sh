#!/usr/bin/env bash
# make demo: dbctl's main job on a machine with no cluster of your own. Starts (or
# reuses) the local kwok cluster, installs the Database CRD, shows the plan for
# examples/, reconciles them to Ready and prints their status. The cluster stays up
# afterwards so you can try more (KUBECONFIG is printed); `make cluster-down` deletes it.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
dbctl="$repo/bin/dbctl"
[[ -x "$dbctl" ]] || { echo "build dbctl first: make build" >&2; exit 1; }

step() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }

step "starting the local kwok cluster (hack/cluster.sh up)"
eval "$(bash hack/cluster.sh up)"
echo "KUBECONFIG=$KUBECONFIG" >&2
export DBCTL_BREAKER_STATE="${DBCTL_BREAKER_STATE:-${XDG_STATE_HOME:-$HOME/.local/state}/dbctl/demo-breakers.json}"

step "dbctl install"
"$dbctl" install

if "$dbctl" plan --help >/dev/null 2>&1; then
  step "dbctl plan -f examples/ (changes nothing)"
  "$dbctl" plan -f examples/
fi

step "dbctl reconcile -f examples/ --create-namespace"
"$dbctl" reconcile -f examples/ --create-namespace --timeout 5m

if "$dbctl" status --help >/dev/null 2>&1; then
  step "dbctl status -f examples/"
  "$dbctl" status -f examples/
fi

step "dbctl reconcile -f examples/ again: nothing to do"
"$dbctl" reconcile -f examples/ --timeout 1m

cat >&2 <<EOT

The cluster is still running. Try:
  export KUBECONFIG=$KUBECONFIG
  bin/dbctl status -n shop orders
  kubectl get databases -A        (kubectl is in $(bash hack/k8s-tools.sh --print-dir))
Delete it with: make cluster-down
EOT

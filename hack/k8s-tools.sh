#!/usr/bin/env bash
# Builds the Kubernetes binaries dbctl's tests, demo and benchmarks need, from the Go
# module proxy only (no downloads from dl.k8s.io or GitHub releases):
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl  (k8s.io/kubernetes)
#   etcd                                                               (go.etcd.io/etcd/server/v3)
#   kwok, kwokctl                                                      (sigs.k8s.io/kwok)
#
# Binaries are cached outside the repository, keyed by version, and reused:
#   ${DBCTL_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dbctl/tools}/k8s-<v>_etcd-<v>_kwok-<v>/bin
# A second run costs well under a second. The last line printed on stdout is that bin
# directory; progress goes to stderr.
#
# Usage: hack/k8s-tools.sh [--print-dir]   (--print-dir prints the directory, builds nothing)
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-3.7.3}"
KWOK_VERSION="${KWOK_VERSION:-0.8.0}"

root="${DBCTL_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dbctl/tools}"
dir="$root/k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}"
bin="$dir/bin"

if [[ "${1:-}" == "--print-dir" ]]; then
  echo "$bin"
  exit 0
fi

log() { printf '[k8s-tools] %s\n' "$*" >&2; }
need() { [[ -x "$bin/$1" ]] && "$bin/$1" "${@:2}" >/dev/null 2>&1; }

command -v go >/dev/null || { log "go is not on PATH"; exit 1; }
mkdir -p "$bin"
# One builder at a time per cache directory (CI and a developer's shell may overlap).
exec 9>"$dir/.lock"
flock 9

work="$(mktemp -d "${TMPDIR:-/tmp}/dbctl-k8s-tools.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export GOFLAGS="${GOFLAGS:-} -mod=mod"
export GOWORK=off
export CGO_ENABLED=0

# The minor version alone ("37" for 1.37.2): k8s.io/component-base/version.gitMinor.
K8S_MINOR="${K8S_VERSION#*.}"
K8S_MINOR="${K8S_MINOR%%.*}"

build_kubernetes() {
  # The kubectl check also catches binaries linked by an older version of this script
  # with gitMinor "37.2" instead of "37".
  if need kube-apiserver --version && need kube-controller-manager --version \
     && need kube-scheduler --version \
     && "$bin/kubectl" version --client -o json 2>/dev/null | grep -q "\"minor\": \"$K8S_MINOR\""; then
    log "kubernetes v$K8S_VERSION binaries cached in $bin"
    return
  fi
  log "building kube-apiserver, kube-controller-manager, kube-scheduler, kubectl v$K8S_VERSION (a few minutes on a cold cache)"
  local m="$work/kubernetes"
  mkdir -p "$m"/{kube-apiserver,kube-controller-manager,kube-scheduler,kubectl}
  local modfile
  modfile="$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
  [[ -f "$modfile" ]] || { log "could not download k8s.io/kubernetes@v$K8S_VERSION"; exit 1; }
  {
    echo "module dbctl.local/k8stools"
    echo "go 1.26"
    echo "require k8s.io/kubernetes v$K8S_VERSION"
    # k8s.io/kubernetes points every staging module at ./staging/src/...; use the
    # published k8s.io/<name> v0.<minor>.<patch> instead.
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#replace \1 => \1 v0.'"${K8S_VERSION#1.}"'#p' "$modfile"
  } >"$m/go.mod"
  cat >"$m/kube-apiserver/main.go" <<'GO'
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() { os.Exit(cli.Run(app.NewAPIServerCommand())) }
GO
  cat >"$m/kube-controller-manager/main.go" <<'GO'
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() { os.Exit(cli.Run(app.NewControllerManagerCommand())) }
GO
  cat >"$m/kube-scheduler/main.go" <<'GO'
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
)

func main() { os.Exit(cli.Run(app.NewSchedulerCommand())) }
GO
  cat >"$m/kubectl/main.go" <<'GO'
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
	}
}
GO
  (cd "$m" && go mod tidy >&2 && go build -trimpath -ldflags "-s -w \
      -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION \
      -X k8s.io/component-base/version.gitMajor=1 \
      -X k8s.io/component-base/version.gitMinor=$K8S_MINOR \
      -X k8s.io/client-go/pkg/version.gitVersion=v$K8S_VERSION" \
      -o "$work/out/" ./kube-apiserver ./kube-controller-manager ./kube-scheduler ./kubectl)
  mv "$work"/out/* "$bin/"
}

build_etcd() {
  if need etcd --version; then
    log "etcd v$ETCD_VERSION cached"
    return
  fi
  log "building etcd v$ETCD_VERSION"
  local m="$work/etcd"
  mkdir -p "$m"
  cat >"$m/go.mod" <<MOD
module dbctl.local/etcdtool
go 1.26
require go.etcd.io/etcd/server/v3 v$ETCD_VERSION
MOD
  cat >"$m/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (cd "$m" && go mod tidy >&2 && go build -trimpath -ldflags "-s -w" -o "$work/etcd-out/etcd" .)
  mv "$work/etcd-out/etcd" "$bin/etcd"
}

build_kwok() {
  if need kwok --version && need kwokctl --version; then
    log "kwok v$KWOK_VERSION cached"
    return
  fi
  log "building kwok, kwokctl v$KWOK_VERSION"
  GOBIN="$work/kwok-out" go install -trimpath -ldflags "-s -w" \
    "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@v$KWOK_VERSION"
  mv "$work"/kwok-out/* "$bin/"
}

start=$SECONDS
build_etcd
build_kubernetes
build_kwok
log "tools ready in $bin ($((SECONDS - start))s)"
echo "$bin"

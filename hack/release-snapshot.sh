#!/usr/bin/env bash
# make release-snapshot: validates .goreleaser.yaml, builds a snapshot release with
# it and checks what the archive contains, then builds the container image without
# Docker (make image: an OCI image layout for linux/amd64 and linux/arm64) and checks
# it. The full matrix (linux, darwin, windows × amd64, arm64) takes long on a small
# machine; by default the snapshot archives only this machine's platform from the
# same configuration (RELEASE_ALL=1 builds all); the image's two linux binaries are
# always built.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
GORELEASER_VERSION="${GORELEASER_VERSION:-v2.15.1}"
gobin="$(go env GOPATH)/bin"
goreleaser="$gobin/goreleaser"
if ! "$goreleaser" --version 2>/dev/null | grep -q "${GORELEASER_VERSION#v}"; then
  echo "[release] installing goreleaser $GORELEASER_VERSION (go install)" >&2
  go install "github.com/goreleaser/goreleaser/v2@$GORELEASER_VERSION"
fi

"$goreleaser" check

config=.goreleaser.yaml
if [[ "${RELEASE_ALL:-}" != 1 ]]; then
  goos="$(go env GOOS)" goarch="$(go env GOARCH)"
  config="$(mktemp "${TMPDIR:-/tmp}/goreleaser.XXXXXX.yaml")"
  trap 'rm -f "$config"' EXIT
  # Only the first build (&build, which kubectl-dbctl copies): the image's build
  # keeps its two linux platforms.
  sed -e "/^  - &build\$/,/^  - <<: \*build\$/{s/goos: \[linux, darwin, windows\]/goos: [$goos]/;s/goarch: \[amd64, arm64\]/goarch: [$goarch]/;}" \
      .goreleaser.yaml >"$config"
  ! grep -q "goos: \[linux, darwin, windows\]" "$config" || { echo "[release] could not narrow the build matrix" >&2; exit 1; }
fi
"$goreleaser" release --snapshot --clean --skip=publish --config "$config"

archive="$(ls dist/dbctl_*_"$(go env GOOS)"_"$(go env GOARCH)".tar.gz)"
echo "[release] checking $archive" >&2
listing="$(tar tzf "$archive")"
missing=0
for want in dbctl kubectl-dbctl README.md config/crd/dbctl.io_databases.yaml config/rbac/role.yaml \
  config/rbac/breaker-state-role.yaml config/controller/kustomization.yaml config/controller/deployment.yaml \
  config/jobs/reconcile-shards.yaml config/argocd/health.lua \
  examples/postgres.yaml examples/mysql.yaml examples/mariadb.yaml examples/ci/github-plan.yaml examples/ci/gitlab-ci.yml completions/dbctl.bash completions/_dbctl completions/dbctl.fish \
  man/dbctl.1 man/dbctl-reconcile.1; do
  grep -qx "$want" <<<"$listing" || { echo "[release] missing from the archive: $want" >&2; missing=1; }
done
((missing == 0)) || exit 1
dir="$(mktemp -d)"
tar xzf "$archive" -C "$dir"
"$dir/dbctl" version
"$dir/kubectl-dbctl" version | grep -q "^dbctl " || { echo "[release] kubectl-dbctl does not run" >&2; exit 1; }
rm -rf "$dir"
echo "[release] archive OK: $(wc -l <<<"$listing") files" >&2

# The image: hack/image reads dist/metadata.json and dist/artifacts.json. verify
# checks every digest, the index's platforms (exactly linux/amd64 and linux/arm64),
# each config's entrypoint (/dbctl) and user, that the layer holds an executable
# dbctl, and runs this machine's `dbctl version`, which must show the snapshot's.
make --no-print-directory image
test -f dist/image/oci-layout && test -f dist/image/index.json || { echo "[release] no OCI image layout in dist/image" >&2; exit 1; }
for arch in amd64 arm64; do
  compgen -G "dist/dbctl_*_linux_${arch}.image.tar" >/dev/null || { echo "[release] no docker tarball for linux/$arch" >&2; exit 1; }
done
echo "[release] image OK: dist/image, dist/*.image.tar (push: see README, Install)" >&2

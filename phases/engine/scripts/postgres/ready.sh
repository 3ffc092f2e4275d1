#!/usr/bin/env bash
# dbctl readiness probe of a PostgreSQL pod (exit 0 = ready), run in the
# container with the pod's environment. Primary: accepts the application's
# credentials over TCP and is not in recovery. Replica: accepts them too, is in
# recovery and its WAL receiver is streaming from the primary. It never prints a
# password and finishes within 4 seconds, before the kubelet's probe timeout (5s)
# could kill it: a killed probe's children would be orphans of the server, which
# is the container's init.
set -euo pipefail

fail() {
	echo "not ready: $*"
	exit 1
}
firstline() { head -n 1 <<<"$1"; }

unset PGHOST PGHOSTADDR PGPORT PGUSER PGPASSFILE PGDATABASE PGSERVICE PGOPTIONS
role=${DBCTL_ROLE:-}
case $role in
primary) want=f ;;
replica) want=t ;;
*) fail "DBCTL_ROLE must be primary or replica, got '$role'" ;;
esac

# Over TCP with the application's credentials, as a client would.
if ! recovery=$(PGPASSWORD=${DBCTL_PASSWORD:-} PGCONNECT_TIMEOUT=2 timeout 2.5 \
	psql -X -At -w -h 127.0.0.1 -p "${DBCTL_PORT:-5432}" -U "${DBCTL_USER:-}" -d "${DBCTL_DATABASE:-}" \
	-c 'SELECT pg_is_in_recovery()' 2>&1); then
	fail "$(firstline "$recovery")"
fi
if [[ $recovery != "$want" ]]; then
	[[ $role == primary ]] && fail "the server is in recovery: it is a standby, not a primary"
	fail "the server is not in recovery: it is not a standby"
fi
[[ $role == primary ]] && exit 0

# The WAL receiver's state is visible to superusers only: the unix socket, as
# the server's own OS user.
if ! status=$(PGCONNECT_TIMEOUT=2 timeout 1.5 psql -X -At -w -h /var/run/postgresql -U postgres -d postgres \
	-c 'SELECT status FROM pg_stat_wal_receiver' 2>&1); then
	fail "$(firstline "$status")"
fi
[[ $status == streaming ]] || fail "not streaming from the primary (WAL receiver: ${status:-not running})"

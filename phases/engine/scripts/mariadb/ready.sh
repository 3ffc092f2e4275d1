#!/usr/bin/env bash
# dbctl readiness probe of a MariaDB pod (exit 0 = ready), run in the container
# with the pod's environment. Primary: accepts the application's credentials over
# TCP and is writable (read_only off). Replica: accepts them too, is read-only,
# and both replication threads run (Slave_IO_Running and Slave_SQL_Running Yes).
# It never prints a password and finishes within 4 seconds, before the kubelet's
# probe timeout (5s) could kill it: a killed probe's children would be orphans of
# the server, which is the container's init.
set -euo pipefail

fail() {
	echo "not ready: $*"
	exit 1
}
firstline() { head -n 1 <<<"$1"; }

role=${DBCTL_ROLE:-}
case $role in
primary) want=0 ;;
replica) want=1 ;;
*) fail "DBCTL_ROLE must be primary or replica, got '$role'" ;;
esac

# Over TCP with the application's credentials, as a client would.
if ! readonly=$(MYSQL_PWD=${DBCTL_PASSWORD:-} timeout 2.5 mariadb --no-defaults --protocol=tcp -h 127.0.0.1 \
	-P "${DBCTL_PORT:-3306}" -u "${DBCTL_USER:-}" --connect-timeout=2 -N -B -e 'SELECT @@global.read_only' 2>&1); then
	fail "$(firstline "$readonly")"
fi
if [[ $readonly != "$want" ]]; then
	[[ $role == primary ]] && fail "the server is read-only: it is not a primary"
	fail "the server is writable: it is not a replica"
fi
[[ $role == primary ]] && exit 0

# Replication status needs a privileged account: the unix socket, as the
# server's own OS user.
if ! status=$(timeout 1.5 mariadb --no-defaults --protocol=socket -S /run/mysqld/mysqld.sock -u "$(id -un)" \
	--connect-timeout=1 -e 'SHOW SLAVE STATUS\G' 2>&1); then
	fail "$(firstline "$status")"
fi
io=$(sed -n 's/^ *Slave_IO_Running: //p' <<<"$status")
sql=$(sed -n 's/^ *Slave_SQL_Running: //p' <<<"$status")
if [[ $io != Yes || $sql != Yes ]]; then
	error=$(sed -n 's/^ *Last_\(IO\|SQL\)_Error: \(..*\)$/\2/p' <<<"$status" | head -n 1)
	fail "not replicating from the primary (IO thread: ${io:-none}, SQL thread: ${sql:-none})${error:+: $error}"
fi

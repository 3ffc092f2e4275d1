# shellcheck shell=bash
# PostgreSQL: pg_restore, stopping at the first error, as the application user:
# every object is owned by it (--no-owner), and the source's grants to roles that
# do not exist here are not restored (--no-acl). Not in one transaction: a failed
# restore is never published anyway, and one transaction would need a lock per
# table and index at once (max_locks_per_transaction).
# shellcheck disable=SC2034 # read by the common restore
readonly RESTORE_EXT=pgdump

# restore_init initialises a new data directory in $1, as primary() does.
restore_init() {
	log "initialising a new data directory"
	initdb -D "$1" -U postgres -E UTF8 --locale=C.UTF-8 --data-checksums \
		--auth-local=peer --auth-host=scram-sha-256 --no-instructions >/dev/null
}

restore_accounts() { ensure_roles; }

# restore_load loads dump $1 into the application database, then ANALYZEs it.
restore_load() {
	local conn
	conn="host=$PRIVATE/boot user=$(conn_quote "$DBCTL_USER") dbname=$(conn_quote "$DBCTL_DATABASE")"
	pg_restore --exit-on-error --no-owner --no-acl --no-tablespaces --no-publications \
		--no-subscriptions --no-security-labels --dbname="$conn" "$1"
	psql -X -q -v ON_ERROR_STOP=1 -d "$conn" -c 'SET client_min_messages = error' -c 'ANALYZE'
}

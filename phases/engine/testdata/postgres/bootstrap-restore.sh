#!/usr/bin/env bash
# dbctl bootstrap of a PostgreSQL pod: the container's command, run as the
# server's user (uid 999). It makes the data directory ready for the pod's role,
# then execs the server. It reads only the environment described in
# phases/engine/doc.go and fixed paths, and never prints a password.
#
#   primary, no data:  initdb into pgdata.init, create the roles on a private
#                      temporary server, rename to pgdata (an interrupted
#                      bootstrap leaves only pgdata.init, redone next start)
#   primary, data:     ensure the roles on a private temporary server
#   replica, no data:  pg_basebackup through the pod's slot into pgdata.clone,
#                      standby.signal, rename to pgdata
#   replica, data:     clone again when the primary lost the pod's slot or is
#                      another database system, else start streaming
# On the primary a background loop creates the replication user as soon as the
# optional replication Secret appears, without restarting the server.
set -euo pipefail
umask 0077

readonly CONF=/etc/dbctl/postgresql.conf
readonly REPL_DIR=/etc/dbctl-replication
readonly VOLUME=/var/lib/postgresql/data
readonly DATA=$VOLUME/pgdata
readonly RUN_DIR=/var/run/postgresql
readonly PRIVATE=$RUN_DIR/.dbctl
readonly WATCH_INTERVAL=3 REPLICA_WATCH_INTERVAL=5

log() { printf '%s dbctl-bootstrap %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${POD_NAME:-?}" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}
oneline() { tr '\n' ' ' <<<"$1" | sed 's/ *$//'; }

check_env() {
	local v
	for v in DBCTL_ROLE POD_NAME DBCTL_PORT DBCTL_DATABASE DBCTL_USER DBCTL_PASSWORD; do
		[[ -n ${!v:-} ]] || die "$v is not set"
	done
	case $DBCTL_ROLE in
	primary) ;;
	replica) [[ -n ${DBCTL_PRIMARY_HOST:-} ]] || die "DBCTL_PRIMARY_HOST is not set" ;;
	*) die "DBCTL_ROLE must be primary or replica, got '$DBCTL_ROLE'" ;;
	esac
	[[ $DBCTL_PORT =~ ^[0-9]+$ ]] || die "DBCTL_PORT must be a port number"
	WAIT_TIMEOUT=${DBCTL_WAIT_TIMEOUT:-120}
	[[ $WAIT_TIMEOUT =~ ^[0-9]+$ ]] || die "DBCTL_WAIT_TIMEOUT must be a number of seconds"
	# Only our settings: libpq reads these, and the server passes its environment on.
	unset PGHOST PGHOSTADDR PGPORT PGUSER PGPASSWORD PGPASSFILE PGDATABASE PGSERVICE PGOPTIONS PGSSLMODE
	export PGDATA=$DATA
}

has_data() { [[ -s $1/PG_VERSION ]]; }

# refuse_foreign stops when the data directory exists but is not one: dbctl never
# deletes what it did not create.
refuse_foreign() {
	if [[ -e $DATA ]] && ! has_data "$DATA" && ! rmdir "$DATA" 2>/dev/null; then
		die "$DATA is not empty and holds no PostgreSQL data directory (no PG_VERSION): refusing to touch it"
	fi
}

# remove_leftover deletes a temporary directory an interrupted bootstrap left.
remove_leftover() {
	if [[ -e $1 ]]; then
		log "removing $1, left by an interrupted bootstrap"
		rm -rf "$1"
	fi
}

# publish renames a complete temporary data directory into place, durably.
publish() {
	sync "$1"
	mv "$1" "$DATA"
	sync "$VOLUME"
}

# temp_start starts a server on data directory $1 that listens on a unix socket in
# a private directory only (no TCP), trusting that socket: only our uid reaches it.
temp_start() {
	local boot=$PRIVATE/boot
	rm -rf "$boot"
	mkdir -m 0700 "$boot"
	printf 'local all all trust\n' >"$boot/pg_hba.conf"
	log "starting a temporary server (unix socket only)"
	pg_ctl -D "$1" -w -t "$WAIT_TIMEOUT" -s \
		-o "-c config_file=$CONF -c data_directory=$1 -c listen_addresses='' -c unix_socket_directories=$boot -c hba_file=$boot/pg_hba.conf" \
		start || die "the temporary server did not start; its messages are above"
}

temp_stop() {
	pg_ctl -D "$1" -m fast -w -t "$WAIT_TIMEOUT" -s stop || die "the temporary server did not stop"
	log "temporary server stopped"
}

boot_psql() { psql -X -q -v ON_ERROR_STOP=1 -h "$PRIVATE/boot" -d postgres "$@"; }

# sql_prelude keeps a session's statements out of the server log: they carry
# passwords, and an error would log the statement.
sql_prelude() {
	cat <<'EOSQL'
\set VERBOSITY terse
SET client_min_messages = warning;
SET log_statement = 'none';
SET log_min_error_statement = panic;
SET log_min_duration_statement = -1;
EOSQL
}

# admin_role is a superuser to connect as: postgres, or on a data directory the
# official image's entrypoint created, POSTGRES_USER (the credentials' user).
admin_role() {
	if boot_psql -U postgres -Atc 'SELECT 1' >/dev/null 2>&1; then
		echo postgres
	else
		echo "$DBCTL_USER"
	fi
}

# ensure_roles creates what dbctl relies on and the application's database and
# user (owner of its database, not a superuser); the password is the Secret's.
ensure_roles() {
	{
		sql_prelude
		cat <<'EOSQL'
\getenv app_user DBCTL_USER
\getenv app_password DBCTL_PASSWORD
\getenv app_db DBCTL_DATABASE
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'postgres') AS missing \gset
\if :missing
CREATE ROLE postgres WITH SUPERUSER LOGIN;
\endif
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dbctl_replication') AS missing \gset
\if :missing
CREATE ROLE dbctl_replication WITH NOLOGIN;
\endif
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_user') AS missing \gset
\if :missing
CREATE ROLE :"app_user" WITH LOGIN;
\endif
ALTER ROLE :"app_user" WITH LOGIN PASSWORD :'app_password';
SELECT NOT EXISTS (SELECT FROM pg_database WHERE datname = :'app_db') AS missing \gset
\if :missing
CREATE DATABASE :"app_db" WITH OWNER :"app_user";
\endif
EOSQL
	} | boot_psql -U "$(admin_role)"
}

have_repl_credentials() { [[ -s $REPL_DIR/username && -s $REPL_DIR/password ]]; }

# repl_sum identifies the replication Secret's content (never printed).
repl_sum() { cat "$REPL_DIR/username" "$REPL_DIR/password" 2>/dev/null | sha256sum; }

# ensure_replication_user creates or updates the replication Secret's user;
# arguments are psql's connection options. It changes nothing else.
ensure_replication_user() {
	local user password
	user=$(<"$REPL_DIR/username")
	password=$(<"$REPL_DIR/password")
	{
		sql_prelude
		cat <<'EOSQL'
\getenv repl_user DBCTL_REPLICATION_USER
\getenv repl_password DBCTL_REPLICATION_PASSWORD
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'repl_user') AS missing \gset
\if :missing
CREATE ROLE :"repl_user" WITH LOGIN REPLICATION;
\endif
ALTER ROLE :"repl_user" WITH LOGIN REPLICATION PASSWORD :'repl_password';
GRANT dbctl_replication TO :"repl_user";
EOSQL
	} | DBCTL_REPLICATION_USER=$user DBCTL_REPLICATION_PASSWORD=$password psql -X -q -v ON_ERROR_STOP=1 "$@"
}

# watch_primary runs beside the server (its parent is the server, so it always
# exits 0): whenever the replication Secret's files appear or change, it ensures
# the replication user over the unix socket.
watch_primary() {
	set +e
	trap 'exit 0' EXIT TERM INT HUP
	local applied=$1 sum out
	while kill -0 "$SERVER_PID" 2>/dev/null; do
		sleep "$WATCH_INTERVAL"
		have_repl_credentials || continue
		sum=$(repl_sum)
		[[ $sum != "$applied" ]] || continue
		pg_isready -q -h "$RUN_DIR" -t 2 || continue
		if out=$(ensure_replication_user -h "$RUN_DIR" -U postgres -d postgres 2>&1); then
			applied=$sum
			log "replication user ready (replication Secret found)"
		else
			log "could not ensure the replication user, retrying: $(oneline "$out")"
		fi
	done
}

primary() {
	local dir=$DATA applied=''
	refuse_foreign
	if ! has_data "$DATA"; then
		dir=$DATA.init
		remove_leftover "$dir"
		log "initialising a new data directory"
		initdb -D "$dir" -U postgres -E UTF8 --locale=C.UTF-8 --data-checksums \
			--auth-local=peer --auth-host=scram-sha-256 --no-instructions >/dev/null
	fi
	temp_start "$dir"
	ensure_roles
	if have_repl_credentials; then
		applied=$(repl_sum)
		ensure_replication_user -h "$PRIVATE/boot" -U postgres -d postgres
		log "replication user ready"
	else
		log "no replication Secret yet: the replication user is created when it appears"
	fi
	temp_stop "$dir"
	if [[ $dir != "$DATA" ]]; then
		publish "$dir"
		log "data directory initialised"
	fi
	unset DBCTL_PASSWORD
	SERVER_PID=$$
	watch_primary "$applied" &
	log "starting the primary"
	exec postgres -c config_file="$CONF"
}

# --- replica ---

# conn_quote quotes a libpq connection string value.
conn_quote() {
	local v=${1//\\/\\\\}
	printf "'%s'" "${v//\'/\\\'}"
}

# read_repl_credentials waits (bounded) for the replication Secret and writes the
# passfile libpq reads, so that no password is ever in a connection string.
read_repl_credentials() {
	local deadline=$((SECONDS + WAIT_TIMEOUT)) next=0 user password u p
	until have_repl_credentials; do
		((SECONDS < deadline)) || die "no replication credentials in $REPL_DIR after ${WAIT_TIMEOUT}s"
		if ((SECONDS >= next)); then
			log "waiting for the replication Secret in $REPL_DIR"
			next=$((SECONDS + 10))
		fi
		sleep 1
	done
	user=$(<"$REPL_DIR/username")
	password=$(<"$REPL_DIR/password")
	# .pgpass fields escape backslashes and colons with a backslash.
	u=${user//\\/\\\\} p=${password//\\/\\\\}
	printf '*:*:*:%s:%s\n' "${u//:/\\:}" "${p//:/\\:}" >"$PRIVATE/pgpass"
	REPL_USER=$user
	SLOT=$(tr -c 'a-z0-9_\n' _ <<<"${POD_NAME,,}")
	SLOT=${SLOT:0:63}
	# TCP keepalives: a clone or a stream from a primary that vanished fails within
	# a minute or two instead of hanging on a dead connection.
	CONNINFO="host=$(conn_quote "$DBCTL_PRIMARY_HOST") port=$DBCTL_PORT user=$(conn_quote "$REPL_USER") passfile=$PRIVATE/pgpass application_name=$SLOT connect_timeout=5 keepalives_idle=30 keepalives_interval=10 keepalives_count=3"
}

# repl_psql runs a replication command on the primary.
repl_psql() { psql -X -At -v ON_ERROR_STOP=1 "$CONNINFO dbname=replication replication=true" -c "$1"; }

# wait_for_primary waits (bounded) until the primary accepts the replication user.
wait_for_primary() {
	local deadline=$((SECONDS + WAIT_TIMEOUT)) next=0 out
	until out=$(repl_psql IDENTIFY_SYSTEM 2>&1); do
		((SECONDS < deadline)) || die "the primary $DBCTL_PRIMARY_HOST:$DBCTL_PORT did not accept the replication user within ${WAIT_TIMEOUT}s: $(oneline "$out")"
		if ((SECONDS >= next)); then
			log "waiting for the primary $DBCTL_PRIMARY_HOST:$DBCTL_PORT: $(oneline "$out")"
			next=$((SECONDS + 10))
		fi
		sleep 2
	done
}

# slot_state prints missing, lost or ok for the pod's slot on the primary.
slot_state() {
	local out type lsn
	out=$(repl_psql "READ_REPLICATION_SLOT \"$SLOT\"") || return 1
	IFS='|' read -r type lsn _ <<<"$out"
	if [[ -z $type ]]; then
		echo missing
	elif [[ -z $lsn ]]; then
		echo lost
	else
		echo ok
	fi
}

# ensure_slot creates the pod's physical slot, reserving WAL at once.
ensure_slot() {
	local state
	state=$(slot_state) || die "could not read replication slot $SLOT on the primary"
	case $state in
	ok) return ;;
	lost) repl_psql "DROP_REPLICATION_SLOT \"$SLOT\"" >/dev/null ;;
	esac
	repl_psql "CREATE_REPLICATION_SLOT \"$SLOT\" PHYSICAL RESERVE_WAL" >/dev/null
	log "replication slot $SLOT created on the primary"
}

clone() {
	local tmp=$DATA.clone
	remove_leftover "$tmp"
	wait_for_primary
	ensure_slot
	mkdir -m 0700 "$tmp"
	log "cloning the primary $DBCTL_PRIMARY_HOST:$DBCTL_PORT with pg_basebackup (slot $SLOT)"
	pg_basebackup -d "$CONNINFO" -D "$tmp" -X stream -S "$SLOT" -c fast -w
	touch "$tmp/standby.signal"
	publish "$tmp"
	log "clone complete"
}

# reclone_reason prints why the standby cannot resume and succeeds when the
# primary lost its slot (dropped, or invalidated by max_slot_wal_keep_size) or is
# another database system. It fails when the standby can resume (1) or the
# primary cannot be asked (2, the error printed): an unreachable primary is no
# reason to clone, the standby starts and streams once it is back.
reclone_reason() {
	local out local_id state
	if ! out=$(repl_psql IDENTIFY_SYSTEM 2>&1); then
		oneline "$out"
		return 2
	fi
	local_id=$(LC_ALL=C pg_controldata -D "$DATA" | sed -n 's/^Database system identifier: *//p')
	if [[ ${out%%|*} != "$local_id" ]]; then
		echo "the primary is another database system (${out%%|*}, this standby: $local_id)"
		return 0
	fi
	state=$(slot_state) || return 2
	case $state in
	missing) echo "replication slot $SLOT is missing on the primary" ;;
	lost) echo "replication slot $SLOT was invalidated on the primary (WAL retention bound)" ;;
	*) return 1 ;;
	esac
}

# watch_replica runs beside the standby (its parent is the server, so it always
# exits 0). A running standby whose slot the primary lost would wait forever for
# WAL that is gone: when it has not been streaming for a while and the primary
# confirms the slot is lost, the watcher stops the server (fast shutdown); the
# kubelet restarts the container and the bootstrap clones again.
watch_replica() {
	set +e
	trap 'exit 0' EXIT TERM INT HUP
	local idle=0 status reason
	while kill -0 "$SERVER_PID" 2>/dev/null; do
		sleep "$REPLICA_WATCH_INTERVAL"
		status=$(psql -X -At -w -h "$RUN_DIR" -U postgres -d postgres -c 'SELECT status FROM pg_stat_wal_receiver' 2>/dev/null)
		if [[ $status == streaming ]] || ! pg_isready -q -h "$RUN_DIR" -t 2; then
			idle=0
			continue
		fi
		((++idle >= 2)) || continue
		if reason=$(reclone_reason); then
			log "$reason: stopping the standby so that its next start clones it again"
			kill -INT "$SERVER_PID"
			exit 0
		fi
	done
}

replica() {
	local reason
	read_repl_credentials
	refuse_foreign
	if has_data "$DATA"; then
		[[ -e $DATA/standby.signal ]] || die "$DATA is not a standby (no standby.signal): it was promoted or is a primary's; refusing to overwrite it"
		if reason=$(reclone_reason); then
			log "$reason: cloning again"
			rm -rf "$DATA"
			sync "$VOLUME"
			clone
		elif (($? == 2)); then
			log "the primary is not reachable now ($reason): starting the standby, it streams once the primary is back"
		fi
	else
		clone
	fi
	unset DBCTL_PASSWORD
	SERVER_PID=$$
	watch_replica &
	log "starting the standby (slot $SLOT)"
	exec postgres -c config_file="$CONF" -c primary_conninfo="$CONNINFO" -c primary_slot_name="$SLOT"
}

main() {
	check_env
	mkdir -p "$PRIVATE"
	chmod 0700 "$PRIVATE"
	log "bootstrap as $DBCTL_ROLE"
	case $DBCTL_ROLE in
	primary) primary ;;
	replica) replica ;;
	esac
}

# --- Restore: rendered into bootstrap.sh by dbctl for a Database created from a
# backup (spec.bootstrap.fromBackup) only ---
#
# Before the steps above, the primary restores a backup of another Database,
# whose backups volume is mounted read-only at RESTORE_DIR, into a new data
# directory, before the server is ever opened to clients:
#   1. picks the backup (RESTORE_FILE, or when it is empty the newest complete
#      one) and verifies it against its .sha256 file before anything else;
#   2. builds the data directory in <data>.init like a new primary's (removing
#      what an interrupted bootstrap or restore left there), creates the
#      application's database and user with this Database's own password, and
#      loads the dump as that user on the private temporary server (a unix
#      socket in a private directory, no TCP): the dump holds no users, and can
#      create nothing the application itself could not;
#   3. stops the temporary server, writes RESTORE_MARKER into the new data
#      directory, and renames it into place; the steps above then start it.
# The data directory only ever appears complete, marker included: a restore
# killed half-way leaves <data>.init, which is never opened, and the next start
# removes it and restores again. A data directory without the marker holds data
# that no restore made: the bootstrap stops with an error instead of overwriting
# it. With the marker (every later start) the primary starts on its data.
# Replicas do not restore: they clone the primary as always.
readonly RESTORE_DIR=/var/backups/dbctl-restore
readonly RESTORE_FILE=''
readonly RESTORE_MARKER=dbctl-restore.done

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

# RESTORE_NAME_RE is the name of a complete backup, as backup.sh writes them.
RESTORE_NAME_RE="^[0-9]{8}T[0-9]{6}\.[0-9]{3}Z\.${RESTORE_EXT//./\\.}\$"
readonly RESTORE_NAME_RE

# restore_pick prints the name of the backup to restore.
restore_pick() {
	local f latest=''
	[[ -d $RESTORE_DIR ]] || die "$RESTORE_DIR is not a directory: the source Database's backups volume must be mounted there"
	if [[ -n $RESTORE_FILE ]]; then
		[[ -f $RESTORE_DIR/$RESTORE_FILE ]] || die "backup $RESTORE_FILE is not in $RESTORE_DIR"
		[[ -f $RESTORE_DIR/$RESTORE_FILE.sha256 ]] || die "backup $RESTORE_FILE has no checksum file $RESTORE_FILE.sha256: it is not a complete backup"
		printf '%s\n' "$RESTORE_FILE"
		return
	fi
	while IFS= read -r f; do
		if [[ $f =~ $RESTORE_NAME_RE && -f $RESTORE_DIR/$f.sha256 ]]; then
			latest=$f
		fi
	done < <(find "$RESTORE_DIR" -maxdepth 1 -type f -name "*.$RESTORE_EXT" -printf '%f\n' | LC_ALL=C sort)
	[[ -n $latest ]] || die "no complete backup in $RESTORE_DIR (a <time>.$RESTORE_EXT file with its .sha256 beside it)"
	printf '%s\n' "$latest"
}

# restore_verify checks backup $1 against its checksum file.
restore_verify() {
	local want got
	read -r want _ <"$RESTORE_DIR/$1.sha256" || die "cannot read $RESTORE_DIR/$1.sha256"
	[[ $want =~ ^[0-9a-f]{64}$ ]] || die "$1.sha256 holds no sha256 checksum"
	log "verifying backup $1 against its checksum"
	got=$(sha256sum <"$RESTORE_DIR/$1")
	got=${got%% *}
	[[ $got == "$want" ]] || die "backup $1 does not match its checksum file (sha256 $got, want $want): refusing to restore it"
}

# restore_primary makes the data directory from the backup, unless it exists.
restore_primary() {
	local dir=$DATA.init file
	refuse_foreign
	if has_data "$DATA"; then
		if [[ -s $DATA/$RESTORE_MARKER ]]; then
			log "the data directory was restored from a backup ($(<"$DATA/$RESTORE_MARKER")): starting on its data"
			return
		fi
		die "$DATA holds data that no restore made (no $RESTORE_MARKER): a restore never overwrites data; restore into a new Database, or remove spec.bootstrap.fromBackup to start on this data"
	fi
	file=$(restore_pick)
	restore_verify "$file"
	remove_leftover "$dir"
	restore_init "$dir"
	temp_start "$dir"
	restore_accounts
	log "restoring backup $file into database $DBCTL_DATABASE"
	restore_load "$RESTORE_DIR/$file"
	temp_stop "$dir"
	printf '{"file":"%s","restoredAt":"%s"}\n' "$file" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$dir/$RESTORE_MARKER"
	sync "$dir/$RESTORE_MARKER"
	publish "$dir"
	log "backup $file restored"
}

restore_main() {
	if [[ ${DBCTL_ROLE:-} == primary ]]; then
		check_env
		mkdir -p "$PRIVATE"
		chmod 0700 "$PRIVATE"
		restore_primary
	fi
	main "$@"
}

restore_main "$@"

#!/usr/bin/env bash
# dbctl bootstrap of a MariaDB pod: the container's command, run as the server's
# user (uid 999). It makes the data directory ready for the pod's role, then execs
# the server. It reads only the environment described in phases/engine/doc.go and
# fixed paths, and never prints a password.
#
#   primary, no data:  mariadb-install-db into data.init, create the accounts on a
#                      private temporary server, rename to data (an interrupted
#                      bootstrap leaves only data.init, redone next start)
#   primary, data:     ensure the accounts on a private temporary server
#   replica, no data:  install into data.clone, load a consistent dump of the
#                      application database from the primary (mariadb-dump
#                      --single-transaction --gtid --master-data), point GTID
#                      replication at the primary, rename to data
#   replica, data:     point replication at the primary again (host and password
#                      from the environment and the Secret), resume from its GTID
# On the primary a background loop creates the replication account as soon as
# the optional replication Secret appears, without restarting the server.
# Accounts are created with sql_log_bin=0: each pod gets its own from the Secrets,
# replicas never replay them.
set -euo pipefail
umask 0077

readonly CNF=/etc/dbctl/my.cnf
readonly REPL_DIR=/etc/dbctl-replication
readonly VOLUME=/var/lib/mysql
readonly DATA=$VOLUME/data
readonly RUN_DIR=/run/mysqld
readonly SOCKET=$RUN_DIR/mysqld.sock
readonly PRIVATE=$RUN_DIR/.dbctl
readonly BOOT_SOCKET=$PRIVATE/boot/mysqld.sock
readonly RECLONE=$VOLUME/data.reclone
readonly WATCH_INTERVAL=3 REPLICA_WATCH_INTERVAL=5

log() { printf '%s dbctl-bootstrap %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${POD_NAME:-?}" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}
oneline() { tr '\n' ' ' <<<"$1" | sed 's/ *$//'; }

check_env() {
	local v ordinal
	for v in DBCTL_ROLE POD_NAME DBCTL_PORT DBCTL_DATABASE DBCTL_USER DBCTL_PASSWORD; do
		[[ -n ${!v:-} ]] || die "$v is not set"
	done
	[[ $DBCTL_PORT =~ ^[0-9]+$ ]] || die "DBCTL_PORT must be a port number"
	WAIT_TIMEOUT=${DBCTL_WAIT_TIMEOUT:-120}
	[[ $WAIT_TIMEOUT =~ ^[0-9]+$ ]] || die "DBCTL_WAIT_TIMEOUT must be a number of seconds"
	ordinal=${POD_NAME##*-}
	[[ $ordinal =~ ^[0-9]+$ ]] || die "POD_NAME $POD_NAME does not end with a StatefulSet ordinal"
	# server_id: 1 for the primary, 100 + ordinal for replica <name>-replica-<ordinal>.
	case $DBCTL_ROLE in
	primary) SERVER_ID=1 ;;
	replica)
		[[ -n ${DBCTL_PRIMARY_HOST:-} ]] || die "DBCTL_PRIMARY_HOST is not set"
		SERVER_ID=$((100 + 10#$ordinal))
		;;
	*) die "DBCTL_ROLE must be primary or replica, got '$DBCTL_ROLE'" ;;
	esac
	unset MYSQL_PWD MYSQL_HOST MYSQL_TCP_PORT MYSQL_UNIX_PORT
	OS_USER=$(id -un)
}

has_data() { [[ -d $1/mysql ]]; }

# refuse_foreign stops when the data directory exists but is not one: dbctl never
# deletes what it did not create.
refuse_foreign() {
	if [[ -e $DATA ]] && ! has_data "$DATA" && ! rmdir "$DATA" 2>/dev/null; then
		die "$DATA is not empty and holds no MariaDB data directory (no mysql/): refusing to touch it"
	fi
}

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

install_db() {
	log "initialising a new data directory"
	mariadb-install-db --defaults-file="$CNF" --datadir="$1" --skip-test-db --skip-log-bin --binlog-expire-logs-seconds=0 \
		--auth-root-authentication-method=socket --auth-root-socket-user="$OS_USER" >/dev/null
}

# temp_start starts a server on data directory $1 that listens on a unix socket
# in a private directory only (no TCP), with no binary log and no replication.
temp_start() {
	local i
	rm -rf "${PRIVATE:?}/boot"
	mkdir -m 0700 "$PRIVATE/boot"
	log "starting a temporary server (unix socket only)"
	mariadbd --defaults-file="$CNF" --datadir="$1" --skip-networking --socket="$BOOT_SOCKET" \
		--pid-file="$PRIVATE/boot/mariadbd.pid" --skip-log-bin --binlog-expire-logs-seconds=0 --skip-slave-start --server-id="$SERVER_ID" \
		--loose-innodb-buffer-pool-load-at-startup=0 --loose-innodb-buffer-pool-dump-at-shutdown=0 &
	TEMP_PID=$!
	for ((i = 0; i < WAIT_TIMEOUT * 5; i++)); do
		boot_sql <<<'SELECT 1' >/dev/null 2>&1 && return 0
		kill -0 "$TEMP_PID" 2>/dev/null || die "the temporary server exited; its messages are above"
		sleep 0.2
	done
	die "the temporary server did not start within ${WAIT_TIMEOUT}s"
}

temp_stop() {
	kill -TERM "$TEMP_PID"
	wait "$TEMP_PID" || die "the temporary server did not stop cleanly"
	log "temporary server stopped"
}

boot_sql() { mariadb --no-defaults --protocol=socket -S "$BOOT_SOCKET" -u "$OS_USER" --batch --skip-column-names; }

# SQL quoting: a string literal (the session clears NO_BACKSLASH_ESCAPES), an
# identifier, an account 'user'@'%', a database name in a GRANT (_ and % escaped).
sql_str() {
	local s=${1//\\/\\\\}
	printf "'%s'" "${s//\'/\\\'}"
}
# shellcheck disable=SC2016 # backticks quote identifiers
sql_ident() { printf '`%s`' "${1//\`/\`\`}"; }
sql_account() { printf "%s@'%%'" "$(sql_str "$1")"; }
sql_grant_db() {
	local s=${1//\`/\`\`}
	s=${s//_/\\_}
	# shellcheck disable=SC2016 # backticks quote identifiers
	printf '`%s`' "${s//%/\\%}"
}

# sql_prelude: nothing a session does goes to the binary log; quoting as above.
sql_prelude() {
	echo "SET SESSION sql_log_bin = 0;"
	echo "SET SESSION sql_mode = REPLACE(@@SESSION.sql_mode, 'NO_BACKSLASH_ESCAPES', '');"
}

# sql_accounts: no anonymous accounts (they would shadow '<app>'@'%' locally); the
# application's database and account, owner of that database only.
sql_accounts() {
	sql_prelude
	echo "DELETE FROM mysql.global_priv WHERE User = '';"
	echo "DELETE FROM mysql.proxies_priv WHERE Host NOT IN ('localhost', '%');"
	echo "FLUSH PRIVILEGES;"
	echo "CREATE DATABASE IF NOT EXISTS $(sql_ident "$DBCTL_DATABASE") CHARACTER SET utf8mb4;"
	echo "CREATE USER IF NOT EXISTS $(sql_account "$DBCTL_USER");"
	echo "ALTER USER $(sql_account "$DBCTL_USER") IDENTIFIED BY $(sql_str "$DBCTL_PASSWORD");"
	echo "GRANT ALL PRIVILEGES ON $(sql_grant_db "$DBCTL_DATABASE").* TO $(sql_account "$DBCTL_USER");"
}

have_repl_credentials() { [[ -s $REPL_DIR/username && -s $REPL_DIR/password ]]; }

# repl_sum identifies the replication Secret's content (never printed).
repl_sum() { cat "$REPL_DIR/username" "$REPL_DIR/password" 2>/dev/null | sha256sum; }

# sql_replication_account: the replication Secret's account, allowed to stream the
# binary log and to dump the application database (its views, triggers, events
# and routines: mysql.proc) for a new replica. Nothing else changes.
sql_replication_account() {
	local user password
	user=$(<"$REPL_DIR/username")
	password=$(<"$REPL_DIR/password")
	sql_prelude
	echo "CREATE USER IF NOT EXISTS $(sql_account "$user");"
	echo "ALTER USER $(sql_account "$user") IDENTIFIED BY $(sql_str "$password");"
	echo "GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO $(sql_account "$user");"
	echo "GRANT SELECT, SHOW VIEW, TRIGGER, EVENT ON $(sql_grant_db "$DBCTL_DATABASE").* TO $(sql_account "$user");"
	echo "GRANT SELECT ON mysql.proc TO $(sql_account "$user");"
}

# watch_primary runs beside the server (its parent is the server, so it always
# exits 0): whenever the replication Secret's files appear or change, it ensures
# the replication account over the unix socket.
watch_primary() {
	set +e
	trap 'exit 0' EXIT TERM INT HUP
	local applied=$1 sum out
	while kill -0 "$SERVER_PID" 2>/dev/null; do
		sleep "$WATCH_INTERVAL"
		have_repl_credentials || continue
		sum=$(repl_sum)
		[[ $sum != "$applied" ]] || continue
		mariadb --no-defaults -S "$SOCKET" -u "$OS_USER" -e 'SELECT 1' >/dev/null 2>&1 || continue
		if out=$(sql_replication_account | mariadb --no-defaults -S "$SOCKET" -u "$OS_USER" 2>&1); then
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
		install_db "$dir"
	fi
	temp_start "$dir"
	sql_accounts | boot_sql
	if have_repl_credentials; then
		applied=$(repl_sum)
		sql_replication_account | boot_sql
		log "replication user ready"
	else
		log "no replication Secret yet: the replication user is created when it appears"
	fi
	temp_stop
	if [[ $dir != "$DATA" ]]; then
		publish "$dir"
		log "data directory initialised"
	fi
	unset DBCTL_PASSWORD
	SERVER_PID=$$
	watch_primary "$applied" &
	log "starting the primary (server_id $SERVER_ID)"
	exec mariadbd --defaults-file="$CNF" --server-id="$SERVER_ID" --read-only=OFF
}

# --- replica ---

read_repl_credentials() {
	local deadline=$((SECONDS + WAIT_TIMEOUT)) next=0
	until have_repl_credentials; do
		((SECONDS < deadline)) || die "no replication credentials in $REPL_DIR after ${WAIT_TIMEOUT}s"
		if ((SECONDS >= next)); then
			log "waiting for the replication Secret in $REPL_DIR"
			next=$((SECONDS + 10))
		fi
		sleep 1
	done
	REPL_USER=$(<"$REPL_DIR/username")
	REPL_PASSWORD=$(<"$REPL_DIR/password")
}

# primary_client runs a client program against the primary as the replication
# user; the password is in its environment, never in its arguments.
primary_client() {
	local prog=$1
	shift
	MYSQL_PWD=$REPL_PASSWORD "$prog" --no-defaults --protocol=tcp -h "$DBCTL_PRIMARY_HOST" -P "$DBCTL_PORT" \
		-u "$REPL_USER" "$@"
}

# wait_for_primary waits (bounded) until the primary accepts the replication user.
wait_for_primary() {
	local deadline=$((SECONDS + WAIT_TIMEOUT)) next=0 out
	until out=$(primary_client mariadb --connect-timeout=5 -e 'SELECT 1' 2>&1); do
		((SECONDS < deadline)) || die "the primary $DBCTL_PRIMARY_HOST:$DBCTL_PORT did not accept the replication user within ${WAIT_TIMEOUT}s: $(oneline "$out")"
		if ((SECONDS >= next)); then
			log "waiting for the primary $DBCTL_PRIMARY_HOST:$DBCTL_PORT: $(oneline "$out")"
			next=$((SECONDS + 10))
		fi
		sleep 2
	done
}

# sql_change_master points GTID replication at the primary; the position is the
# replica's own gtid_slave_pos (set by the dump, then by what it applied).
sql_change_master() {
	sql_prelude
	echo "CHANGE MASTER TO MASTER_HOST = $(sql_str "$DBCTL_PRIMARY_HOST"), MASTER_PORT = $DBCTL_PORT," \
		"MASTER_USER = $(sql_str "$REPL_USER"), MASTER_PASSWORD = $(sql_str "$REPL_PASSWORD")," \
		"MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 5;"
}

clone() {
	local tmp=$DATA.clone
	remove_leftover "$tmp"
	wait_for_primary
	install_db "$tmp"
	temp_start "$tmp"
	sql_accounts | boot_sql
	log "copying the application database from the primary $DBCTL_PRIMARY_HOST:$DBCTL_PORT (consistent dump with its GTID position)"
	primary_client mariadb-dump --single-transaction --gtid --master-data=1 --routines --events --triggers \
		--databases "$DBCTL_DATABASE" | boot_sql
	sql_change_master | boot_sql
	temp_stop
	publish "$tmp"
	log "clone complete"
}

# gtid_seqs prints "domain seq_no" for each GTID of a list such as 0-1-12,1-2-7.
gtid_seqs() {
	local g list
	IFS=, read -ra list <<<"${1//[][ ]/}"
	for g in "${list[@]}"; do
		[[ -n $g ]] && echo "${g%%-*} ${g##*-}"
	done
}

# reclone_reason prints why this replica cannot resume from its GTID position and
# succeeds when the primary's binary log ends before that position (another or a
# re-created primary) or starts after it (purged). It fails when the replica can
# resume (1) or the primary cannot be asked (2, the error printed). It needs the
# temporary server running on the replica's data.
reclone_reason() {
	local mine current first oldest d n
	local -A have=() cur=() old=()
	mine=$(boot_sql <<<'SELECT @@global.gtid_slave_pos') || return 2
	if ! current=$(primary_client mariadb --connect-timeout=5 -N -B -e 'SELECT @@global.gtid_binlog_pos' 2>&1) ||
		! first=$(primary_client mariadb --connect-timeout=5 -N -B -e 'SHOW BINARY LOGS' 2>&1) ||
		! oldest=$(primary_client mariadb --connect-timeout=5 -N -B \
			-e "SHOW BINLOG EVENTS IN $(sql_str "${first%%$'\t'*}") LIMIT 4" 2>&1); then
		oneline "$current $first $oldest"
		return 2
	fi
	oldest=$(awk -F'\t' '$3 == "Gtid_list" { print $6 }' <<<"$oldest")
	while read -r d n; do have[$d]=$n; done < <(gtid_seqs "$mine")
	while read -r d n; do cur[$d]=$n; done < <(gtid_seqs "$current")
	while read -r d n; do old[$d]=$n; done < <(gtid_seqs "$oldest")
	for d in "${!have[@]}"; do
		if ((${have[$d]} > ${cur[$d]:-0})); then
			echo "the primary's binary log ends before this replica's position (${current:-empty} < $mine): another or a re-created primary"
			return 0
		fi
	done
	for d in "${!old[@]}"; do
		if ((${have[$d]:-0} < ${old[$d]})); then
			echo "the primary purged the binary logs this replica needs (they start after $oldest, this replica is at ${mine:-the beginning})"
			return 0
		fi
	done
	return 1
}

# watch_replica runs beside the server (its parent is the server, so it always
# exits 0). When the primary refuses the replica's GTID position for good (error
# 1236: binary logs purged, or a primary behind the replica), it records why in
# RECLONE and stops the server; the kubelet restarts the container and the
# bootstrap clones again.
watch_replica() {
	set +e
	trap 'exit 0' EXIT TERM INT HUP
	local failed=0 status reason
	while kill -0 "$SERVER_PID" 2>/dev/null; do
		sleep "$REPLICA_WATCH_INTERVAL"
		status=$(mariadb --no-defaults -S "$SOCKET" -u "$OS_USER" -e 'SHOW SLAVE STATUS\G' 2>/dev/null)
		if [[ $(sed -n 's/^ *Last_IO_Errno: //p' <<<"$status") != 1236 ]]; then
			failed=0
			continue
		fi
		((++failed >= 2)) || continue
		reason="the primary cannot serve this replica's GTID position ($(sed -n 's/^ *Last_IO_Error: //p' <<<"$status"))"
		printf '%s\n' "$reason" >"$RECLONE"
		log "$reason: stopping the server so that its next start clones it again"
		kill -TERM "$SERVER_PID"
		exit 0
	done
}

# resume prepares existing replica data: clone again when it cannot resume, else
# point replication at the primary with the current host and password.
resume() {
	local reason rc
	temp_start "$DATA"
	if [[ -s $RECLONE ]]; then
		reason=$(<"$RECLONE")
	else
		reason=$(reclone_reason) && rc=0 || rc=$?
		if ((rc != 0)); then
			((rc == 1)) || log "the primary is not reachable now ($reason): starting the replica, it replicates once the primary is back"
			{
				sql_accounts
				echo "STOP SLAVE;"
				sql_change_master
			} | boot_sql
			temp_stop
			return
		fi
	fi
	temp_stop
	log "$reason: cloning again"
	rm -rf "$DATA"
	sync "$VOLUME"
	rm -f "$RECLONE"
	clone
}

replica() {
	read_repl_credentials
	refuse_foreign
	if has_data "$DATA"; then
		resume
	else
		clone
	fi
	unset DBCTL_PASSWORD REPL_PASSWORD
	SERVER_PID=$$
	watch_replica &
	log "starting the replica (server_id $SERVER_ID, read-only)"
	exec mariadbd --defaults-file="$CNF" --server-id="$SERVER_ID" --read-only=ON
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

# MariaDB: the dump is loaded by the mariadb client, stopping at the first error,
# as the application user into its database. The dump's DEFINER clauses name the
# source's account: they become CURRENT_USER (only on the lines where
# mariadb-dump writes them: triggers, events, routines and views, never in
# rows), so that views, triggers, events and routines run as this Database's
# user.
# shellcheck disable=SC2034 # read by the common restore
readonly RESTORE_EXT=sql.gz
# shellcheck disable=SC2016 # backticks quote identifiers
readonly DEFINER_SED='/^(\/\*!50003 CREATE\*\/ \/\*!50017 |\/\*!50106 CREATE\*\/ \/\*!50117 |\/\*!50013 |CREATE )DEFINER=/ s/DEFINER=`([^`]|``)+`@`([^`]|``)+`/DEFINER=CURRENT_USER/'

restore_init() { install_db "$1"; }

restore_accounts() { sql_accounts | boot_sql; }

# restore_load loads dump $1 into the application database.
restore_load() {
	gzip -dc -- "$1" | sed -E "$DEFINER_SED" |
		MYSQL_PWD=$DBCTL_PASSWORD mariadb --no-defaults --protocol=socket -S "$BOOT_SOCKET" -u "$DBCTL_USER" \
			-D "$DBCTL_DATABASE" --batch --max-allowed-packet=1G
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

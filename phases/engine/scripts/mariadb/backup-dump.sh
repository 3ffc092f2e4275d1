# shellcheck shell=bash
# MariaDB: mariadb-dump's SQL, gzip-compressed, of the application database only
# (no mysql.* tables: no accounts, no password hashes; no CREATE DATABASE or USE,
# so it loads into a database of any name), with its routines, events, triggers
# and views. --single-transaction reads every InnoDB table in one consistent
# snapshot (START TRANSACTION WITH CONSISTENT SNAPSHOT) without locking them;
# tables of other engines (MyISAM) are not transactional and not consistent.
# It connects over TCP as the application user; the password is in its
# environment, never in its arguments.
# shellcheck disable=SC2034 # read by the common backup.sh
readonly EXT=sql.gz

# dump_env clears the client's variables: only ours count.
dump_env() { unset MYSQL_PWD MYSQL_HOST MYSQL_TCP_PORT MYSQL_UNIX_PORT; }

# dump writes the dump to file $1.
dump() {
	MYSQL_PWD=$DBCTL_PASSWORD mariadb-dump --no-defaults --protocol=tcp -h "$DBCTL_PRIMARY_HOST" -P "$DBCTL_PORT" \
		-u "$DBCTL_USER" --single-transaction --routines --events --triggers --hex-blob --max-allowed-packet=1G \
		"$DBCTL_DATABASE" | gzip -c >"$1"
}

# verify reads the dump $1 back in full: intact compression, and the line
# mariadb-dump writes last.
verify() { gzip -t "$1" && [[ $(gzip -dc "$1" | tail -n 1) == "-- Dump completed"* ]]; }

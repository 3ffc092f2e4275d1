# shellcheck shell=bash
# PostgreSQL: pg_dump's custom format (compressed; pg_restore reads it, whole or
# in part) of the application database only: pg_dump never dumps roles, so no
# password hash is ever in a backup. pg_dump reads everything in one REPEATABLE
# READ transaction: the dump is one snapshot, consistent across tables. It
# connects over TCP as the application user (the owner of the database); the
# password is in its environment, never in its arguments.
# shellcheck disable=SC2034 # read by the common backup.sh
readonly EXT=pgdump

# dump_env clears libpq's variables: only ours count.
dump_env() {
	unset PGHOST PGHOSTADDR PGPORT PGUSER PGPASSWORD PGPASSFILE PGDATABASE PGSERVICE PGOPTIONS PGSSLMODE
}

# conn_quote quotes a libpq connection string value.
conn_quote() {
	local v=${1//\\/\\\\}
	printf "'%s'" "${v//\'/\\\'}"
}

# dump writes the dump to file $1.
dump() {
	PGPASSWORD=$DBCTL_PASSWORD pg_dump --format=custom --file="$1" --dbname="host=$(conn_quote "$DBCTL_PRIMARY_HOST") port=$DBCTL_PORT user=$(conn_quote "$DBCTL_USER") dbname=$(conn_quote "$DBCTL_DATABASE") application_name=dbctl-backup connect_timeout=10 keepalives_idle=30 keepalives_interval=10 keepalives_count=3"
}

# verify reads the dump $1 back in full, every table's data included.
verify() { pg_restore --file=/dev/null "$1"; }

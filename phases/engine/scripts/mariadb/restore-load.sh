# shellcheck shell=bash
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

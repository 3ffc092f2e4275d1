# shellcheck shell=bash
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
readonly RESTORE_FILE=@FILE@
readonly RESTORE_MARKER=dbctl-restore.done

# @ENGINE@

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

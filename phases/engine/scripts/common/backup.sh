#!/usr/bin/env bash
# dbctl backup of a Database (SPEC §11): the script of the backup Job, run as the
# server's user (uid 999) in the Database's image. A logical dump of the
# application database only, never the users or their password hashes, taken
# from the primary in one consistent snapshot, into the backups volume. It reads
# only the environment described in phases/engine/doc.go and never prints a
# password.
#
#   1. one backup at a time: a lock on DIR/.dbctl-backup.lock, held until this
#      run and every process it started have exited (waits at most
#      DBCTL_WAIT_TIMEOUT seconds, default 120, for another backup);
#   2. removes what killed runs left: temporary files (.<name>.partial) and
#      checksum files whose dump is gone; never a complete backup;
#   3. dumps into .<name>.partial, fsyncs it and reads it back in full;
#   4. writes <name>.sha256 (sha256sum's format) under a temporary name, fsyncs
#      and renames it, renames the dump to <name>, fsyncs the directory: a backup
#      is complete when <name> and <name>.sha256 both exist, and only then;
#   5. retention, only now that the new backup is complete: deletes the oldest
#      complete backups until KEEP are left (the new one always among them);
#   6. writes the termination message (DBCTL_TERMINATION_LOG, default
#      /dev/termination-log) and stdout, one JSON line:
#      {"file":"<name>","sizeBytes":N,"sha256":"<hex>","completedAt":"<RFC 3339>"}
# <name> is the UTC time the dump started and the engine's extension, e.g.
# 20261130T120000.123Z.pgdump: names sort by time. Any failure exits 1 with the
# reason on stderr, after removing its temporary files.
set -euo pipefail
umask 0027

readonly DIR=/var/backups/dbctl
readonly KEEP=@KEEP@
readonly LOCK_FILE=.dbctl-backup.lock
readonly TERMINATION_LOG=${DBCTL_TERMINATION_LOG:-/dev/termination-log}

log() { printf '%s dbctl-backup: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}
# Any other command that fails stops the backup, saying which (as written:
# variables unexpanded, so never a password).
set -E
trap 'log "error: line $LINENO: $BASH_COMMAND failed"' ERR

# @ENGINE@

# NAME_RE is the name of a complete backup (restore.sh in bootstrap.sh reads the
# same), TMP_RE the temporary files of a run.
NAME_RE="^[0-9]{8}T[0-9]{6}\.[0-9]{3}Z\.${EXT//./\\.}\$"
TMP_RE="^\.[0-9]{8}T[0-9]{6}\.[0-9]{3}Z\.${EXT//./\\.}(\.sha256)?\.partial\$"
readonly NAME_RE TMP_RE
TMP='' TMP_SUM=''

check_env() {
	local v
	for v in DBCTL_PRIMARY_HOST DBCTL_PORT DBCTL_DATABASE DBCTL_USER DBCTL_PASSWORD; do
		[[ -n ${!v:-} ]] || die "$v is not set"
	done
	[[ $DBCTL_PORT =~ ^[0-9]+$ ]] || die "DBCTL_PORT must be a port number"
	[[ $KEEP =~ ^[1-9][0-9]*$ ]] || die "the number of backups to keep must be at least 1, got '$KEEP'"
	WAIT_TIMEOUT=${DBCTL_WAIT_TIMEOUT:-120}
	[[ $WAIT_TIMEOUT =~ ^[0-9]+$ ]] || die "DBCTL_WAIT_TIMEOUT must be a number of seconds"
	[[ -d $DIR && -w $DIR ]] || die "$DIR is not a writable directory: the backups volume must be mounted there"
	dump_env
}

# lock takes the backups directory's lock. Its file descriptor is inherited by
# every process this run starts, so the lock is held until all of them are gone:
# a later run never removes files that a process of a killed run still writes.
lock() {
	exec 9>>"$DIR/$LOCK_FILE"
	if ! flock -n 9; then
		log "another backup is running in $DIR: waiting for it (at most ${WAIT_TIMEOUT}s)"
		flock -w "$WAIT_TIMEOUT" 9 || die "another backup still runs in $DIR after ${WAIT_TIMEOUT}s"
	fi
}

# remove_leftovers deletes the temporary files of killed runs, and checksum files
# whose dump is gone (a retention killed between its two deletions).
remove_leftovers() {
	local f
	while IFS= read -r f; do
		if [[ $f =~ $TMP_RE ]]; then
			log "removing $f, left by an interrupted backup"
			rm -f -- "${DIR:?}/$f"
		elif [[ $f == *.sha256 && ${f%.sha256} =~ $NAME_RE && ! -e $DIR/${f%.sha256} ]]; then
			log "removing $f, the checksum file of a deleted backup"
			rm -f -- "${DIR:?}/$f"
		fi
	done < <(find "$DIR" -maxdepth 1 -type f -printf '%f\n')
}

# complete_backups prints the names of the complete backups, oldest first.
complete_backups() {
	local f
	while IFS= read -r f; do
		if [[ $f =~ $NAME_RE && -f $DIR/$f.sha256 ]]; then
			printf '%s\n' "$f"
		fi
	done < <(find "$DIR" -maxdepth 1 -type f -name "*.$EXT" -printf '%f\n' | LC_ALL=C sort)
}

# publish makes the dump in TMP the complete backup $1 (checksum $2): each file
# is fsync'd under its temporary name and renamed, the checksum file first, then
# the directory is fsync'd.
publish() {
	TMP_SUM=$DIR/.$1.sha256.partial
	printf '%s  %s\n' "$2" "$1" >"$TMP_SUM"
	sync "$TMP_SUM"
	mv -- "$TMP_SUM" "$DIR/$1.sha256"
	mv -- "$TMP" "$DIR/$1"
	sync "$DIR"
}

# retain deletes the oldest complete backups until KEEP are left, the new one ($1)
# always among them (even when an earlier Job's clock was ahead): each backup's
# dump first, then its checksum file.
retain() {
	local -a older=()
	local f i
	while IFS= read -r f; do
		[[ $f == "$1" ]] || older+=("$f")
	done < <(complete_backups)
	for ((i = 0; i < ${#older[@]} - (KEEP - 1); i++)); do
		f=${older[i]}
		log "removing backup $f (keeping the newest $KEEP)"
		rm -f -- "${DIR:?}/$f"
		rm -f -- "${DIR:?}/$f.sha256"
	done
	sync "$DIR"
}

main() {
	local name sum size completed message
	check_env
	lock
	remove_leftovers
	name=$(date -u +%Y%m%dT%H%M%S.%3NZ).$EXT
	[[ ! -e $DIR/$name ]] || die "$DIR/$name exists already"
	TMP=$DIR/.$name.partial
	trap 'rm -f -- "$TMP" "$TMP_SUM"' EXIT
	log "dumping database $DBCTL_DATABASE from $DBCTL_PRIMARY_HOST:$DBCTL_PORT into $name"
	dump "$TMP" || die "the dump failed; its messages are above"
	sync "$TMP"
	log "verifying the dump (reading it back in full)"
	verify "$TMP" || die "the dump does not read back in full: not kept"
	sum=$(sha256sum <"$TMP")
	sum=${sum%% *}
	size=$(stat -c %s "$TMP")
	publish "$name" "$sum"
	completed=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	log "backup $name complete: $size bytes, sha256 $sum"
	retain "$name"
	message=$(printf '{"file":"%s","sizeBytes":%s,"sha256":"%s","completedAt":"%s"}' "$name" "$size" "$sum" "$completed")
	printf '%s\n' "$message" >"$TERMINATION_LOG" ||
		die "backup $name is complete, but the termination message could not be written to $TERMINATION_LOG"
	printf '%s\n' "$message"
}

main "$@"

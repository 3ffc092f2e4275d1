// Package engine renders every file a database pod runs (SPEC §2, §7): the server
// configuration and, for postgres and mariadb, the bootstrap and readiness scripts.
// They all go into the ConfigMap <name>-config, mounted read-only at ConfigDir
// (/etc/dbctl). Pure Go, no cluster access.
//
// # API
//
//	Files(Input) (map[string]string, error)  // ConfigMap data: file name -> content
//	ConfigHash(Input) (string, error)        // hash of the config files only (pod annotation)
//	Layout(Name) (Paths, error)              // mounts, data dir, socket dir, port, uid/gid, command, probe, backup command
//	ParseBackupResult(string) (BackupResult, error) // a backup Job's termination message
//
// Files per engine:
//
//	postgres  postgresql.conf, storage.conf, pg_hba.conf, pg_ident.conf, bootstrap.sh, ready.sh
//	mariadb   my.cnf, bootstrap.sh, ready.sh
//	mysql     my.cnf only: the official image's entrypoint runs one instance
//	          (byte for byte what phases rendered before this package)
//
// and, for postgres and mariadb, only when the caller asks (Input.Backup,
// Input.Restore; see Backups and Restore below): backup.sh, and a bootstrap.sh
// with the restore. Without them the files are exactly those above, so no
// existing Database's ConfigMap changes.
//
// ConfigHash covers Paths.ConfigFiles only: a change to a script does not restart
// running servers (a pod runs the new script at its next start), and neither does
// a volume growth: PostgreSQL's settings derived from spec.storage.size
// (max_slot_wal_keep_size) are in storage.conf, which postgresql.conf includes
// first and the hash does not cover (the new value applies at the next start).
//
// # Configuration
//
// spec.parameters override dbctl's defaults; the settings dbctl relies on cannot
// be overridden and a parameter naming one is ignored (PostgreSQL names are
// compared case-insensitively; MariaDB's also with dashes as underscores and
// without loose-/skip-/disable-/enable-/maximum- prefixes):
//
//	postgres  fixed: listen_addresses '*', port 5432, unix_socket_directories,
//	          data_directory, hba_file, ident_file, password_encryption
//	          scram-sha-256, hot_standby on. Defaults: wal_level replica (logical
//	          allowed, minimal is an error), max_wal_senders 10,
//	          max_replication_slots 10, max_slot_wal_keep_size a quarter of
//	          StorageSize (at least 16MB), max_connections 100, shared_buffers
//	          128MB, logging to stderr.
//	mariadb   fixed: bind_address 0.0.0.0, port 3306, datadir, socket, pid_file,
//	          log_bin, relay_log, binlog_format ROW, log_slave_updates,
//	          gtid_strict_mode, skip_name_resolve; server_id and read_only are
//	          per pod (bootstrap.sh sets them on the server's command line).
//	          Defaults: utf8mb4, binlog_expire_logs_seconds 7 days, sync_binlog 1,
//	          relay_log_recovery, master_retry_count (a replica never gives up),
//	          log_bin_trust_function_creators (the application may create
//	          triggers and routines with the binary log on; ROW format).
//
// pg_hba.conf: the unix socket admits the server's OS user postgres only (peer);
// every TCP connection, loopback included, needs scram-sha-256; replication
// connections are for members of the role dbctl_replication only (the
// replication Secret's user is made one), who may do nothing else.
//
// # Environment contract
//
// The container's command is Paths.Command (bash /etc/dbctl/bootstrap.sh), its
// readiness probe Paths.Readiness (bash /etc/dbctl/ready.sh); both read exactly
// these variables (constants Env*, roles RolePrimary and RoleReplica):
//
//	DBCTL_ROLE          primary | replica
//	POD_NAME            downward API metadata.name: the primary is <name>-0
//	                    (StatefulSet <name>), replicas <name>-replica-<i>
//	                    (StatefulSet <name>-replica). MariaDB server_id: 1 for the
//	                    primary, 100+i for replica i. PostgreSQL slot: the pod name
//	                    lower-cased with every other character than [a-z0-9_] as _
//	                    (orders-replica-0 -> orders_replica_0).
//	DBCTL_PRIMARY_HOST  the primary pod's DNS name through the headless Service,
//	                    e.g. orders-0.orders-headless.shop.svc (replicas need it)
//	DBCTL_PORT          the engine's port (5432, 3306)
//	DBCTL_DATABASE      the application database
//	DBCTL_USER          the application user      } from the credentials
//	DBCTL_PASSWORD      the application password  } Secret <name>-credentials
//
// and DBCTL_WAIT_TIMEOUT (seconds, default 120), optional and not set by dbctl:
// how long a bootstrap waits for the replication Secret or the primary before it
// exits 1 (the kubelet then restarts the container).
//
// The replication credentials are not environment variables: the Secret
// <name>-replication (keys username, password) is mounted as an optional Secret
// volume at ReplicationDir (/etc/dbctl-replication). A Database created with one
// replica has no such Secret; scaling up creates it later, and the primary's pod
// must not change: the primary's bootstrap leaves a small loop running beside the
// server (a child of the server process, which always exits 0) that creates or
// updates the replication user whenever the Secret's files appear or change,
// and touches nothing else. A replica waits for the files (bounded, see above).
//
// # Pods
//
// The pod runs as uid/gid 999 (the official images' postgres and mysql users;
// runAsUser/runAsGroup 999, fsGroup 999 so that the data volume is writable),
// with the official images only supplying the binaries (postgres:<v> Debian,
// mariadb:<v> Ubuntu; bash is in both). Paths:
//
//	postgres  volume /var/lib/postgresql/data, data directory .../pgdata (the
//	          official image's PGDATA, so existing volumes keep working), unix
//	          socket /var/run/postgresql, private state /var/run/postgresql/.dbctl
//	mariadb   volume /var/lib/mysql, data directory /var/lib/mysql/data, socket
//	          /run/mysqld/mysqld.sock, private state /run/mysqld/.dbctl
//
// The socket directories must be writable by uid 999 (they are in the images).
//
// # Bootstrap
//
// A new data directory is built next to the final one (pgdata.init, data.init;
// replicas pgdata.clone, data.clone) and renamed into place only when complete,
// so a bootstrap killed half-way is redone at the next start, never taken for
// a complete one. Users are created on a temporary server that listens on a
// socket in a private directory only. A data directory that exists but is not
// one (no PG_VERSION, no mysql/) is never deleted: the bootstrap stops with an
// error instead.
//
//	primary   initialise if needed (initdb --data-checksums, scram; or
//	          mariadb-install-db with root and the OS user via unix_socket only,
//	          anonymous accounts removed), then ensure: PostgreSQL roles postgres
//	          (superuser) and dbctl_replication; the application database and
//	          its owner (not a superuser; MariaDB '<user>'@'%' with all
//	          privileges on its database only); the replication user when the
//	          Secret is there. The application password is set to the Secret's
//	          at every start. On a data directory the official postgres image
//	          made (POSTGRES_USER was the superuser, no postgres role), the
//	          role postgres is created; the old superuser keeps its rights.
//	replica   PostgreSQL: create the pod's physical slot (RESERVE_WAL) if
//	          missing, pg_basebackup -X stream through it, standby.signal; the
//	          server gets primary_conninfo (a passfile, never a password) and
//	          primary_slot_name on its command line at every start, so a changed
//	          host is picked up. A standby whose slot the primary lost (dropped,
//	          or invalidated by max_slot_wal_keep_size) or whose primary is
//	          another system is cloned again at its next start; an unreachable
//	          primary is no reason (the standby starts and streams later).
//	          MariaDB: a consistent mariadb-dump --single-transaction --gtid
//	          --master-data of the application database, loaded without binary
//	          logging, then CHANGE MASTER ... MASTER_USE_GTID=slave_pos; at every
//	          start CHANGE MASTER again with the current host and password; the
//	          server runs with read_only=ON. A replica whose position the primary
//	          cannot serve (its binary logs purged, or a primary behind it: a
//	          re-created one) is cloned again at its next start.
//
// A running replica in that state would otherwise wait forever (nothing restarts
// a running pod): a loop beside the server (like the primary's) watches it and,
// when the primary confirms it (PostgreSQL: not streaming and the slot lost or
// missing; MariaDB: replication stopped with error 1236, the reason kept in
// /var/lib/mysql/data.reclone), stops the server; the kubelet restarts the
// container and the bootstrap clones again.
//
// Scripts never print a password nor pass one in a command's arguments: psql
// reads them from its environment (\getenv) or a 0600 passfile in the private
// directory, mariadb clients from MYSQL_PWD or SQL on stdin; sessions that set
// passwords keep their statements out of the server log (PostgreSQL) and the
// binary log (MariaDB, sql_log_bin=0: each pod gets its accounts from the
// Secrets, replicas never replay them). The MariaDB replica's master.info holds
// the replication password, as MariaDB always stores it.
//
// # Readiness
//
// ready.sh exits 0 when ready and finishes within 4 seconds: the probe's
// timeoutSeconds must be at least 5, so that the kubelet never kills it half-way
// (its children would become orphans of the server, see below). Primary: the server accepts
// DBCTL_USER/DBCTL_PASSWORD over TCP and is not in recovery
// (pg_is_in_recovery() false; MariaDB @@read_only 0). Replica: the same
// connection works, the server is in recovery (read_only 1), and it streams from
// the primary (pg_stat_wal_receiver.status streaming; MariaDB Slave_IO_Running
// and Slave_SQL_Running Yes), read over the unix socket as the server's OS user.
// It prints why it is not ready.
//
// # The server is the container's init
//
// bootstrap.sh execs the server, so orphans in the container are reparented to
// it, and the loops beside the server are its children. PostgreSQL treats a
// child that dies of a signal as a crashed backend and restarts all backends
// (crash recovery, no data loss, seconds of disruption): the loops trap signals
// and exit 0, and ready.sh ends before its probe times out. Only a SIGKILL of a
// loop (by hand, or the OOM killer choosing a 3 MB shell over the server) would
// cause such a restart.
//
// # Backups
//
// backup.sh (Input.Backup) is the backup Job's command: BackupInput says what
// the Job must provide (image, uid 999, the ConfigMap at ConfigDir, the backups
// PVC at BackupDir, the environment EnvPrimaryHost (the read-write Service's
// host), EnvPort, EnvDatabase, EnvUser, EnvPassword, optional EnvWaitTimeout and
// EnvTerminationLog). It is rendered from scripts/common/backup.sh and the
// engine's scripts/<engine>/backup-dump.sh, with Keep written into it. It
// guarantees:
//
//   - the dump holds the application database only, in the engine's own
//     logical format, and never a user or a password hash: PostgreSQL pg_dump's
//     custom format (pg_restore reads it; <time>.pgdump), MariaDB mariadb-dump's
//     SQL gzip-compressed (<time>.sql.gz; no mysql.* tables, no CREATE
//     DATABASE, so it loads under any database name), with views, triggers,
//     routines and events;
//   - one point in time: pg_dump reads in one REPEATABLE READ transaction,
//     mariadb-dump with --single-transaction (InnoDB tables; tables of other
//     engines are not transactional), taken from the primary over TCP as the
//     application user (the owner of its database);
//   - only complete backups carry a backup's name: the dump is written to
//     .<name>.partial, fsync'd and read back in full (pg_restore of every
//     table's data to /dev/null; gzip -t and mariadb-dump's last line), its
//     sha256 written to <name>.sha256 (sha256sum -c reads it) under a temporary
//     name, fsync'd and renamed, then the dump renamed and the directory fsync'd.
//     A backup is complete when <name> and <name>.sha256 both exist. Names are
//     the UTC time the dump started (20261130T120000.123Z.pgdump), so they sort
//     by time;
//   - one backup at a time per volume (flock on .dbctl-backup.lock, held by
//     every process of a run until all are gone: a later run waits
//     EnvWaitTimeout, default 120 s, then fails). Under the lock, each run first
//     removes the temporary files of killed runs and checksum files whose dump
//     is gone; it never removes a complete backup or a file it did not name;
//   - retention only after the new backup is complete: the oldest complete
//     backups are deleted (dump first, then its checksum file) until Keep are
//     left, the new one always among them;
//   - exit 0 only then, with the termination message (EnvTerminationLog, default
//     DefaultTerminationLog) and the last stdout line one JSON object:
//     {"file","sizeBytes","sha256","completedAt"} (BackupResult,
//     ParseBackupResult). Any failure exits 1 with the reason as the last
//     stderr line, after removing its temporary files; a SIGKILL leaves a
//     .partial file that no restore picks and the next run removes.
//
// # Restore
//
// With Input.Restore (spec.bootstrap.fromBackup), bootstrap.sh is the same
// script with scripts/common/restore.sh and the engine's
// scripts/<engine>/restore-load.sh rendered in before its last line, which
// becomes restore_main "$@": on the primary, before the steps of Bootstrap,
//
//   - a data directory that exists is never restored over: with RestoreMarker
//     in it (a restore made it) the primary starts on its data; without it the
//     bootstrap exits 1 saying so (the data is untouched);
//   - otherwise the backup (RestoreInput.File with its .sha256, or when it is
//     empty the newest complete one in RestoreDir) is verified against its
//     checksum before anything is created;
//   - the new data directory is built in <data>.init exactly like a new
//     primary's (initdb / mariadb-install-db), the application's database and
//     user created with this Database's password, and the dump loaded as that
//     user on the temporary server, which listens on a unix socket in a private
//     directory only (PostgreSQL listen_addresses empty, MariaDB
//     --skip-networking): no client reaches the server before the restore is
//     complete. PostgreSQL: pg_restore --no-owner --no-acl (every object owned
//     by the new user) and ANALYZE; MariaDB: the mariadb client, the dump's
//     DEFINER clauses rewritten to CURRENT_USER on the lines where mariadb-dump
//     writes them (never in rows);
//   - the temporary server is stopped, RestoreMarker ({"file","restoredAt"})
//     written and fsync'd into the directory, and the directory renamed into
//     place: the data directory only ever appears complete, marker included.
//
// A restore killed half-way leaves <data>.init, a directory only the bootstrap
// creates (it is how an interrupted initialisation is told, too): it is never
// opened, and the next start removes it and restores again. The dump holds no
// users: the new Database's application user and password are its own, the
// source's password does not work. Replicas do not restore; they clone the
// primary as always.
//
// # For the integrator
//
//   - PostgreSQL requires max_connections, max_wal_senders, max_worker_processes,
//     max_prepared_transactions and max_locks_per_transaction on a standby to be
//     at least the primary's: when raising them, the replicas should roll first
//     (a standby pauses replay until restarted with the new values).
//   - Slots of replicas removed by scaling down stay on the primary and keep at
//     most max_slot_wal_keep_size of WAL; scaling up again resumes through them.
//   - No automatic failover: a replica never promotes itself.
//   - Backups: a CronJob with concurrencyPolicy Forbid; dbctl backup's Job
//     waits for a running one's lock (EnvWaitTimeout). A backups PVC that is
//     ReadWriteOnce is usable by one node at a time: the restoring primary's pod
//     must run where it is attached (or use ReadWriteMany / ReadOnlyMany). Make
//     spec.bootstrap settable at creation only: on an existing Database the
//     restore refuses to start the primary.
package engine

// Package engine renders every file a database pod runs (SPEC §2, §7): the server
// configuration and, for postgres and mariadb, the bootstrap and readiness scripts.
// They all go into the ConfigMap <name>-config, mounted read-only at ConfigDir
// (/etc/dbctl). Pure Go, no cluster access.
//
// # API
//
//	Files(Input) (map[string]string, error)  // ConfigMap data: file name -> content
//	ConfigHash(Input) (string, error)        // hash of the config files only (pod annotation)
//	Layout(Name) (Paths, error)              // mounts, data dir, socket dir, port, uid/gid, command, probe
//
// Files per engine:
//
//	postgres  postgresql.conf, storage.conf, pg_hba.conf, pg_ident.conf, bootstrap.sh, ready.sh
//	mariadb   my.cnf, bootstrap.sh, ready.sh
//	mysql     my.cnf only: the official image's entrypoint runs one instance
//	          (byte for byte what phases rendered before this package)
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
// # For the integrator
//
//   - PostgreSQL requires max_connections, max_wal_senders, max_worker_processes,
//     max_prepared_transactions and max_locks_per_transaction on a standby to be
//     at least the primary's: when raising them, the replicas should roll first
//     (a standby pauses replay until restarted with the new values).
//   - Slots of replicas removed by scaling down stay on the primary and keep at
//     most max_slot_wal_keep_size of WAL; scaling up again resumes through them.
//   - No automatic failover: a replica never promotes itself.
package engine

// Package realengine runs exactly the files phases/engine renders (configuration,
// bootstrap and readiness scripts) in real PostgreSQL 15 and MariaDB 10.11 servers
// as local processes, and proves what SPEC §7 promises of the pods: one primary and
// streaming replicas that clone themselves, authentication from a non-loopback
// address, restarts, scaling, parameters, readiness, late replication credentials,
// interrupted bootstraps and data directories made by the official images; and
// what SPEC §11 promises of backups (backup.sh run as the backup Job: one point in
// time, complete or absent, retention) and restores (bootstrap.sh rendered with a
// restore: the source's data with the new Database's own users, never reachable
// or taken half-done, never over existing data).
//
// Each "pod" is a mount + network + UTS + IPC + PID namespace (unshare, as root)
// with its own 127.0.0.1 and the engine's standard port, /run, /dev/shm and /etc.
// The pods' addresses (192.0.2.x on lo) are connected through unix sockets
// relayed by socat, as the machine has no veth devices: in the client pod an
// iptables nat rule redirects address:port to a local socat that forwards to a
// unix socket; in the server pod a socat serves that socket and connects to the
// server from the client pod's address, so the server sees a non-loopback
// client. The container is a nested PID and mount namespace (its own /tmp)
// running bootstrap.sh as uid 999 with exactly the pod's environment (podEnv).
// The kubelet's restart of an exited container is the test's startServer. A
// backup Job is a container of its own in the client pod, where the backups PVC
// (a host directory) is mounted; a restoring primary mounts the source's.
//
// The tests need root and the servers (hack/real-engines.sh installs them). They
// skip with a message when something is missing, and fail instead when
// DBCTL_REQUIRE_REAL_ENGINES=1 (CI).
package realengine

// Package faults holds the fault-injection tests of R24 (revocation is
// bounded on every replica, whatever fails) and of the pieces around it:
// real `tokend serve` processes against a throwaway PostgreSQL cluster of
// their own, with listeners killed and black-holed, the database stopped
// and restarted, PgBouncer in both pooling modes, a hot standby, replicas
// killed with SIGKILL mid-write and webhook senders killed mid-delivery.
//
// The tests live in the _test.go files; they run only with
// TOKEND_TEST_FAULTS=1 (make faults), as root, on a machine with the Debian
// PostgreSQL tools (pg_createcluster, pg_ctlcluster, pg_basebackup) and
// pgbouncer (apt-get install -y pgbouncer; under CI=true the test installs
// it). They never touch the cluster on port 5432. The figures of the last
// run are written to last-run.md beside this file.
package faults

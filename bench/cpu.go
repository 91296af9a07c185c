package main

import (
	"context"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc CPU times (100 on Linux).
const clockTicks = 100

// cpuSample is where the machine's CPU time went up to one instant, in ticks.
type cpuSample struct {
	at       time.Time
	server   int64 // the tokend process under test
	postgres int64 // every process named postgres (backends, autovacuum, checkpointer…)
	self     int64 // this bench process (vegeta)
	busy     int64 // the whole machine, not idle
}

// cpuUse is a difference of two samples, in CPU-seconds.
type cpuUse struct {
	wall                                 time.Duration
	server, postgres, self, busy, others float64
}

// procTicks returns utime+stime of one process from /proc/PID/stat, and its name.
func procTicks(path string) (int64, string) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, ""
	}
	s := string(data)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return 0, ""
	}
	// After "(comm) ": state is field 3; utime and stime are fields 14 and 15.
	f := strings.Fields(s[end+1:])
	if len(f) < 13 {
		return 0, ""
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ut + st, s[open+1 : end]
}

// sampleCPU reads the CPU times now. PostgreSQL is the backends connected
// to the bench's database plus the shared background processes
// (checkpointer, WAL writer, autovacuum…), not other databases' backends:
// other people's tests on the same server count as "others".
func (b *bench) sampleCPU(serverPID int) cpuSample {
	c := cpuSample{at: time.Now()}
	c.server, _ = procTicks("/proc/" + strconv.Itoa(serverPID) + "/stat")
	c.self, _ = procTicks("/proc/self/stat")
	for _, pid := range b.postgresPIDs() {
		if t, name := procTicks("/proc/" + strconv.Itoa(pid) + "/stat"); name == "postgres" {
			c.postgres += t
		}
	}
	if data, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(data), "\n")
		f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal …
		for i, v := range f[1:] {
			n, _ := strconv.ParseInt(v, 10, 64)
			switch i {
			case 0, 1, 2, 5, 6: // user nice system irq softirq (guest is inside user)
				c.busy += n
			}
		}
	}
	return c
}

// since returns the CPU time used between s0 and s1. Processes that exited
// in between (a postgres backend) lose their share to "others".
func (s1 cpuSample) since(s0 cpuSample) cpuUse {
	u := cpuUse{
		wall:     s1.at.Sub(s0.at),
		server:   float64(s1.server-s0.server) / clockTicks,
		postgres: float64(s1.postgres-s0.postgres) / clockTicks,
		self:     float64(s1.self-s0.self) / clockTicks,
		busy:     float64(s1.busy-s0.busy) / clockTicks,
	}
	u.others = max(0, u.busy-u.server-u.postgres-u.self)
	return u
}

// postgresPIDs lists the PostgreSQL processes that work for the bench.
func (b *bench) postgresPIDs() []int {
	if b.pgConn == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Background processes (checkpointer, WAL writer…) have no database.
	rows, err := b.pgConn.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database() OR datname IS NULL`)
	if err != nil {
		return nil
	}
	defer rows.Close()
	var pids []int
	for rows.Next() {
		var pid int
		if rows.Scan(&pid) == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

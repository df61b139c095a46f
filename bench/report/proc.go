package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// memMiB is a /proc/PID/status field (VmRSS, VmHWM) in MiB with one decimal,
// "?" if the process is gone, "" if the field is missing.
func memMiB(pid, name string) string {
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		return "?"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) >= 2 && fs[0] == name+":" {
			return fmt.Sprintf("%.1f", num(fs[1])/1024)
		}
	}
	return ""
}

// cpuSeconds is a process's user + system CPU time (/proc/PID/stat, USER_HZ
// 100), "0" if the process is gone.
func cpuSeconds(pid string) string {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return "0"
	}
	// the fields after the command name, which is in brackets and may hold spaces:
	// state is field 3, utime 14, stime 15
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return fmt.Sprintf("%.2f", (num(field(f, 11))+num(field(f, 12)))/100)
}

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestMain keeps the tests away from the developer's own tokend login: the
// configuration directory and file point into a temporary directory, and
// no TOKEND_URL or TOKEND_TOKEN of the shell leaks in.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tokend-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for k, v := range map[string]string{
		"XDG_CONFIG_HOME": dir, "TOKEND_CONFIG": filepath.Join(dir, "tokend", "config.json"),
	} {
		if err := os.Setenv(k, v); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	for _, k := range []string{"TOKEND_URL", "TOKEND_TOKEN", "COMP_LINE", "COMP_POINT"} {
		_ = os.Unsetenv(k)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

package main

import "testing"

// The monitor's URL logged with -dev points at the admin address (a
// wildcard host becomes localhost) with the token in the fragment.
func TestMonitorURL(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"127.0.0.1:9090", "http://127.0.0.1:9090/monitor/#token=t0k"},
		{":9090", "http://localhost:9090/monitor/#token=t0k"},
		{"0.0.0.0:9090", "http://localhost:9090/monitor/#token=t0k"},
		{"[::]:9090", "http://localhost:9090/monitor/#token=t0k"},
		{"admin.internal:9090", "http://admin.internal:9090/monitor/#token=t0k"},
	} {
		if got := monitorURL(tc.addr, "t0k"); got != tc.want {
			t.Errorf("monitorURL(%q) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tokend/tokend/gen/client"
)

// Guard is a plain http.Handler: it can be tested without a process. (The
// answers of a live tokend are checked in ../examples_test.go.)
func TestGuardWithoutTokend(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String() // nothing answers there once closed
	l.Close()
	c, err := client.NewClientWithResponses(down)
	if err != nil {
		t.Fatal(err)
	}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("admitted a request") })
	h := Guard(c, "nodes:view", next)

	for _, tc := range []struct {
		name, header, value string
		want                int
	}{
		{"no token: refused without asking tokend", "", "", http.StatusUnauthorized},
		{"tokend unreachable", "X-WallarmApi-Token", "tkd_anything", http.StatusBadGateway},
		{"tokend unreachable, bearer", "Authorization", "Bearer tkd_anything", http.StatusBadGateway},
	} {
		req := httptest.NewRequest("GET", "/", nil)
		if tc.header != "" {
			req.Header.Set(tc.header, tc.value)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, rec.Code, tc.want)
		}
	}
}

package notify_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/tokend/tokend/internal/notify"
)

var (
	deny     = notify.Policy{}
	loopback = notify.Policy{AllowLoopback: true}
	private  = notify.Policy{AllowPrivate: true}
	both     = notify.Policy{AllowLoopback: true, AllowPrivate: true}
)

// classes is every range the guard must know, by the class it must get.
var classes = map[notify.Class][]string{
	notify.Public: {
		"8.8.8.8", "1.1.1.1", "93.184.215.14", "11.0.0.1", "172.32.0.1", "100.63.255.255", "100.128.0.0",
		"198.17.255.255", "198.20.0.0", "192.0.1.1", "223.255.255.254",
		"2606:4700:4700::1111", "2001:4860:4860::8888", "2a00:1450:4001::1", "::ffff:8.8.8.8",
	},
	notify.Loopback: {"127.0.0.1", "127.0.0.2", "127.255.255.254", "::1", "::ffff:127.0.0.1", "::ffff:7f00:1"},
	notify.Private: {
		"10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.255", "192.168.0.1", "192.168.255.255",
		"fc00::1", "fd12:3456:789a::1", "fdff:ffff:ffff::1", "::ffff:10.1.2.3", "::ffff:192.168.1.1",
	},
	notify.LinkLocal: {
		"169.254.0.1", "169.254.169.254", "169.254.170.2", "169.254.170.23", "169.254.255.255",
		"::ffff:169.254.169.254", "fe80::1", "fe80::1%eth0", "febf:ffff::1", "224.0.0.1", "224.0.0.251", "ff02::1",
		// Metadata addresses outside the link-local ranges.
		"fd00:ec2::254", "fd00:ec2::23", "fd20:ce::254", "100.100.100.200", "168.63.129.16", "192.0.0.192",
	},
	notify.Reserved: {
		"0.0.0.0", "0.1.2.3", "::", "::ffff:0.0.0.0",
		"100.64.0.1", "100.127.255.255", // shared address space (CGN), RFC 6598
		"192.0.0.1", "192.0.0.8", "192.0.0.255", // IETF protocol assignments
		"192.0.2.1", "198.51.100.1", "203.0.113.1", // documentation
		"198.18.0.1", "198.19.255.255", // benchmarking
		"192.88.99.1",                                        // 6to4 relay anycast
		"224.1.2.3", "239.255.255.250", "ff0e::1", "ff05::2", // multicast
		"240.0.0.1", "254.255.255.255", "255.255.255.255", // reserved, broadcast
		"64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::808:808", "64:ff9b:1::1", // NAT64, whatever it embeds
		"2002:7f00:1::1", "2002:a9fe:a9fe::1", "2002:808:808::1", // 6to4, whatever it embeds
		"2001::1", "2001:db8::1", "3fff::1", "100::1", "::127.0.0.1", "::8.8.8.8", "5f00::1", // Teredo, docs, discard, IPv4-compatible, outside 2000::/3
	},
}

func TestClassify(t *testing.T) {
	t.Parallel()
	for want, addrs := range classes {
		for _, s := range addrs {
			if got := notify.Classify(netip.MustParseAddr(s)); got != want {
				t.Errorf("Classify(%s) = %s, want %s", s, got, want)
			}
		}
	}
	if got := notify.Classify(netip.Addr{}); got != notify.Reserved {
		t.Errorf("the zero Addr is %s", got)
	}
}

// Each switch opens its own class and nothing else; link-local, metadata
// and reserved addresses stay refused with both on.
func TestPolicyCheckAddr(t *testing.T) {
	t.Parallel()
	allowed := map[notify.Policy]map[notify.Class]bool{
		deny:     {notify.Public: true},
		loopback: {notify.Public: true, notify.Loopback: true},
		private:  {notify.Public: true, notify.Private: true},
		both:     {notify.Public: true, notify.Loopback: true, notify.Private: true},
	}
	for p, ok := range allowed {
		for class, addrs := range classes {
			for _, s := range addrs {
				err := p.CheckAddr(netip.MustParseAddr(s))
				if ok[class] != (err == nil) {
					t.Errorf("%+v CheckAddr(%s): %v; want allowed=%v", p, s, err, ok[class])
					continue
				}
				var e *notify.Error
				if err != nil && (!errors.As(err, &e) || e.Class != class || !strings.Contains(err.Error(), class.String())) {
					t.Errorf("%+v CheckAddr(%s): %v, want a %s error", p, s, err, class)
				}
			}
		}
	}
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	const (
		ok        = ""
		invalid   = "the URL"
		nonstd    = "non-standard form"
		loopClass = "a loopback address"
		privClass = "a private address"
		linkClass = "a link-local or metadata address"
		resClass  = "a reserved address"
	)
	for _, c := range []struct {
		url    string
		policy notify.Policy
		want   string // "" accepted, else a part of the error
	}{
		{"https://hooks.example.com/tokend", deny, ok},
		{"http://hooks.example.com:8080/x?y=1#z", deny, ok},
		{"HTTPS://Hooks.Example.COM/", deny, ok},
		{"https://hooks.example.com./", deny, ok},
		{"https://xn--e1afmkfd.xn--p1ai/", deny, ok},
		{"https://0x7f.example.com/", deny, ok}, // a name: the last label is not a number
		{"https://8.8.8.8/", deny, ok},
		{"https://[2606:4700:4700::1111]:8443/", deny, ok},
		{"https://[::ffff:8.8.8.8]/", deny, ok},

		{"ftp://example.com/", deny, "scheme must be http or https"},
		{"javascript:alert(1)", deny, invalid},
		{"file:///etc/passwd", deny, "scheme must be http or https"},
		{"//example.com/", deny, "scheme must be http or https"},
		{"example.com", deny, "scheme must be http or https"},
		{"http:example.com", deny, invalid},
		{"http://user:pass@example.com/", deny, "user information"},
		{"http://user@example.com/", deny, "user information"},
		{"http://@example.com/", deny, "user information"},
		{"http://example.com@127.0.0.1/", deny, "user information"},
		{"http:///path", deny, "no host"},
		{"http://:80/", deny, "no host"},
		{"http://example.com:0/", deny, "port"},
		{"http://example.com:65536/", deny, "port"},
		{"http://example.com:/", deny, "port"},
		{"http://exa mple.com/", deny, invalid},
		{"http://example..com/", deny, "not a valid name"},
		{"http://.example.com/", deny, "not a valid name"},
		{"http://[::1/", deny, invalid},
		{"http://[127.0.0.1]/", deny, invalid},

		// Loopback, in every spelling.
		{"http://127.0.0.1/", deny, loopClass},
		{"http://127.0.0.1./", deny, loopClass},
		{"http://127.10.20.30:8080/", deny, loopClass},
		{"http://[::1]/", deny, loopClass},
		{"http://[::1%25lo]/", deny, loopClass},
		{"http://[0:0:0:0:0:0:0:1]/", deny, loopClass},
		{"http://[::ffff:127.0.0.1]/", deny, loopClass},
		{"http://[::ffff:7f00:1]/", deny, loopClass},
		{"http://127.1/", deny, loopClass},
		{"http://127.0.1/", deny, loopClass},
		{"http://0x7f.1/", deny, loopClass},
		{"http://0x7F.0.0.1/", deny, loopClass},
		{"http://0177.0.0.1/", deny, loopClass},
		{"http://0177.1/", deny, loopClass},
		{"http://2130706433/", deny, loopClass},
		{"http://0x7f000001/", deny, loopClass},
		{"http://017700000001/", deny, loopClass},
		{"http://%31%32%37.0.0.1/", deny, invalid}, // percent-encoded hosts are refused outright
		{"http://localhost/", deny, loopClass},
		{"http://LOCALHOST.:8080/", deny, loopClass},
		{"http://api.localhost/", deny, loopClass},
		{"http://127.0.0.1:8080/", loopback, ok},
		{"http://[::1]:8080/", loopback, ok},
		{"http://localhost:8080/", loopback, ok},
		{"http://127.1/", loopback, nonstd}, // allowed, but not in that form
		{"http://127.0.0.1/", private, loopClass},

		// Private.
		{"http://10.0.0.1/", deny, privClass},
		{"http://172.16.5.4/", deny, privClass},
		{"http://192.168.1.1/", deny, privClass},
		{"http://0xa.1/", deny, privClass},
		{"http://167772161/", deny, privClass},
		{"http://[fc00::1]/", deny, privClass},
		{"http://[fd12:3456::1]/", deny, privClass},
		{"http://[::ffff:10.0.0.1]/", deny, privClass},
		{"http://10.0.0.1/", loopback, privClass},
		{"http://10.0.0.1/", private, ok},
		{"http://[fd12:3456::1]/", private, ok},

		// Link-local and metadata: never.
		{"http://169.254.169.254/latest/meta-data/", deny, linkClass},
		{"http://169.254.169.254/latest/meta-data/", both, linkClass},
		{"http://0xa9fea9fe/", both, linkClass},
		{"http://2852039166/", both, linkClass},
		{"http://169.254.43518/", both, linkClass},
		{"http://[::ffff:169.254.169.254]/", both, linkClass},
		{"http://169.254.170.2/v2/credentials", both, linkClass},
		{"http://[fe80::1]/", both, linkClass},
		{"http://[fe80::1%25eth0]/", both, linkClass},
		{"http://[fd00:ec2::254]/", both, linkClass},
		{"http://[fd20:ce::254]/", both, linkClass},
		{"http://100.100.100.200/", both, linkClass},
		{"http://168.63.129.16/", both, linkClass},
		{"http://224.0.0.251/", both, linkClass},

		// Reserved: never.
		{"http://0.0.0.0/", both, resClass},
		{"http://0/", both, resClass},
		{"http://[::]/", both, resClass},
		{"http://100.64.0.1/", both, resClass},
		{"http://192.0.0.1/", both, resClass},
		{"http://198.18.0.1/", both, resClass},
		{"http://192.0.2.1/", both, resClass},
		{"http://240.0.0.1/", both, resClass},
		{"http://255.255.255.255/", both, resClass},
		{"http://4294967295/", both, resClass},
		{"http://239.255.255.250/", both, resClass},
		{"http://[64:ff9b::7f00:1]/", both, resClass},
		{"http://[64:ff9b::a9fe:a9fe]/", both, resClass},
		{"http://[2002:7f00:1::1]/", both, resClass},
		{"http://[2001:db8::1]/", both, resClass},
		{"http://[::127.0.0.1]/", both, resClass},
		{"http://[ff02::1]/", both, linkClass},

		// Numbers that are no address.
		{"http://0x08.8.8.8/", deny, nonstd},
		{"http://134744072/", deny, nonstd},
		{"http://1.2.3.4.5/", deny, "not a valid IP address"},
		{"http://256.1.1.1/", deny, "not a valid IP address"},
		{"http://1.2.3.256/", deny, "not a valid IP address"},
		{"http://4294967296/", deny, "not a valid IP address"},
		{"http://08.1.1.1/", deny, "not a valid IP address"},
		{"http://0xg.1/", deny, "not a valid IP address"}, // ends in a number, so read as IPv4, and is none
		{"http://1.0xg/", deny, ok},                       // "0xg" is no number: a name
		{"http://example.123/", deny, "not a valid IP address"},
	} {
		err := notify.CheckURL(c.url, c.policy)
		if c.want == ok {
			if err != nil {
				t.Errorf("CheckURL(%q, %+v) = %v, want nil", c.url, c.policy, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckURL(%q, %+v) = %v, want %q", c.url, c.policy, err, c.want)
			continue
		}
		var e *notify.Error
		if !errors.As(err, &e) {
			t.Errorf("CheckURL(%q): untyped error %v", c.url, err)
		}
		if u, perr := url.Parse(c.url); perr == nil && u.Hostname() != "" && strings.Contains(err.Error(), u.Hostname()) {
			t.Errorf("CheckURL(%q): the error echoes the host: %v", c.url, err)
		}
	}
}

// The connect-time guard refuses on the resolved address, so a name is no
// way around it; each switch opens only its class.
func TestHTTPClientGuard(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))
	defer srv.Close()
	port := srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]
	get := func(p notify.Policy, rawURL string) error {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, rawURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := notify.NewHTTPClient(p).Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	for _, u := range []string{srv.URL, "http://localhost:" + port} {
		for _, p := range []notify.Policy{deny, private} {
			err := get(p, u)
			var e *notify.Error
			if !errors.As(err, &e) || e.Class != notify.Loopback || !strings.Contains(err.Error(), "not public") {
				t.Errorf("%+v GET %s: %v, want refused as loopback", p, u, err)
			}
		}
		if err := get(loopback, u); err != nil {
			t.Errorf("loopback allowed, GET %s: %v", u, err)
		}
	}
	// The guard sees the address even when the URL check was skipped.
	err := get(both, "http://0.0.0.0:"+port)
	var e *notify.Error
	if !errors.As(err, &e) || e.Class != notify.Reserved {
		t.Errorf("GET 0.0.0.0 with both switches: %v", err)
	}
}

// Control refuses networks other than TCP and addresses it cannot read.
func TestControl(t *testing.T) {
	t.Parallel()
	if err := both.Control("udp4", "8.8.8.8:53", nil); err == nil {
		t.Error("udp allowed")
	}
	if err := deny.Control("tcp4", "nonsense", nil); err == nil {
		t.Error("an unparsable address allowed")
	}
	if err := deny.Control("tcp4", "8.8.8.8:443", nil); err != nil {
		t.Error(err)
	}
	if err := deny.Control("tcp6", "[::ffff:127.0.0.1]:443", nil); err == nil {
		t.Error("IPv4-mapped loopback allowed")
	}
}

package notify

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"code.dny.dev/ssrf"
)

// Policy says which non-public destinations webhooks may reach. The zero
// Policy reaches public addresses only. Link-local and cloud metadata
// addresses are never reachable, whatever the switches, and neither is any
// other special-purpose range of the IANA registries (shared address space,
// benchmarking, NAT64, 6to4, multicast, broadcast, reserved, …).
type Policy struct {
	// AllowLoopback admits 127.0.0.0/8 and ::1 (tests, local development).
	AllowLoopback bool
	// AllowPrivate admits the RFC 1918 ranges and IPv6 unique local
	// addresses (fc00::/7), except the metadata addresses among them.
	AllowPrivate bool
}

// Class is the kind of destination an address is.
type Class int

// The destination classes, from the only one always allowed to the ones
// never allowed.
const (
	Public Class = iota
	Loopback
	Private
	LinkLocal // link-local ranges and cloud metadata addresses
	Reserved  // every other special-purpose or non-unicast address
)

func (c Class) String() string {
	switch c {
	case Public:
		return "a public address"
	case Loopback:
		return "a loopback address"
	case Private:
		return "a private address"
	case LinkLocal:
		return "a link-local or metadata address"
	default:
		return "a reserved address"
	}
}

// metadataAddrs are cloud instance-metadata and host-agent endpoints. Most
// sit in ranges that are refused anyway; these are named so that the ones
// inside private (fd00:ec2::254) or public (168.63.129.16) space stay refused
// when AllowPrivate is on, and so the log says what they are.
var metadataAddrs = map[netip.Addr]bool{
	netip.MustParseAddr("169.254.169.254"): true, // AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle …
	netip.MustParseAddr("169.254.170.2"):   true, // AWS ECS task credentials
	netip.MustParseAddr("169.254.170.23"):  true, // AWS EKS pod identity agent
	netip.MustParseAddr("fd00:ec2::254"):   true, // AWS IMDS over IPv6
	netip.MustParseAddr("fd00:ec2::23"):    true, // AWS EKS pod identity agent over IPv6
	netip.MustParseAddr("fd20:ce::254"):    true, // GCP metadata over IPv6
	netip.MustParseAddr("100.100.100.200"): true, // Alibaba Cloud
	netip.MustParseAddr("192.0.0.192"):     true, // Oracle Cloud (legacy)
	netip.MustParseAddr("168.63.129.16"):   true, // Azure WireServer
}

// special is the IANA special-purpose registries (IPv4, and IPv6 within
// 2000::/3; all of IPv6 outside 2000::/3 is refused), as code.dny.dev/ssrf
// generates them. Ports and networks are checked elsewhere.
var special = ssrf.New(ssrf.WithAnyPort(), ssrf.WithAnyNetwork())

// Classify says what kind of destination ip is. IPv4-mapped IPv6 addresses
// are classified as the IPv4 address they carry.
func Classify(ip netip.Addr) Class {
	ip = ip.Unmap().WithZone("")
	switch {
	case !ip.IsValid():
		return Reserved
	case metadataAddrs[ip], ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return LinkLocal
	case ip.IsLoopback():
		return Loopback
	case ip.IsPrivate():
		return Private
	case special.SafeAddr(ip) != nil:
		return Reserved
	}
	return Public
}

// allows reports whether the policy admits destinations of class c.
func (p Policy) allows(c Class) bool {
	switch c {
	case Public:
		return true
	case Loopback:
		return p.AllowLoopback
	case Private:
		return p.AllowPrivate
	}
	return false
}

// Error is why a webhook URL or destination was refused. Its text names the
// problem and never the URL or address, so handlers can answer with it.
type Error struct {
	// Class is the destination's class when the address is the problem,
	// Public when the URL itself is.
	Class Class
	msg   string
}

func (e *Error) Error() string { return e.msg }

func urlError(msg string) error { return &Error{Class: Public, msg: msg} }

// CheckAddr refuses ip unless the policy allows its class.
func (p Policy) CheckAddr(ip netip.Addr) error {
	c := Classify(ip)
	if p.allows(c) {
		return nil
	}
	msg := "webhook address is not public: it is " + c.String()
	switch c {
	case Loopback:
		msg += " (set TOKEND_WEBHOOK_ALLOW_LOOPBACK=true to allow)"
	case Private:
		msg += " (set TOKEND_WEBHOOK_ALLOW_PRIVATE=true to allow)"
	}
	return &Error{Class: c, msg: msg}
}

// CheckURL validates a webhook URL at registration: http or https, no user
// information, a host that is a name or an IP literal the policy allows.
// IP literals in any form the URL parser or resolver would take (IPv4-mapped
// IPv6, and the short, decimal, octal and hex IPv4 forms of inet_aton) are
// checked for what they denote; the odd forms are refused even when that is
// allowed, since resolvers disagree about them. Names are checked when the
// webhook is sent, on every address they resolve to (see NewHTTPClient),
// except "localhost" and names under it, which are loopback by definition.
func CheckURL(raw string, p Policy) error {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return urlError("the URL is not valid")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return urlError("the URL's scheme must be http or https")
	}
	if u.User != nil {
		return urlError("the URL must not carry user information")
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return urlError("the URL's port is not valid")
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return urlError("the URL's port is not valid")
	}
	host := u.Hostname()
	if host == "" {
		return urlError("the URL has no host")
	}
	if strings.Contains(host, ":") { // IPv6 literal (url.Parse wants brackets)
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return urlError("the URL's host is not a valid IP address")
		}
		return p.checkHost(ip)
	}
	name := strings.TrimSuffix(host, ".") // one trailing dot: a fully qualified name
	if name == "" || strings.HasSuffix(name, ".") || strings.HasPrefix(name, ".") || strings.Contains(name, "..") {
		return urlError("the URL's host is not a valid name")
	}
	if ip, err := netip.ParseAddr(name); err == nil {
		return p.checkHost(ip)
	}
	if numericHost(name) {
		ip, ok := parseInetAton(name)
		if !ok {
			return urlError("the URL's host is not a valid IP address")
		}
		if err := p.checkHost(ip); err != nil {
			return err
		}
		return urlError("the URL's host is an IP address in a non-standard form; write it as four decimal numbers")
	}
	lower := strings.ToLower(name)
	if lower == "localhost" || strings.HasSuffix(lower, ".localhost") { // RFC 6761
		if !p.AllowLoopback {
			return &Error{Class: Loopback, msg: "the URL points to " + Loopback.String()}
		}
	}
	return nil
}

func (p Policy) checkHost(ip netip.Addr) error {
	if c := Classify(ip); !p.allows(c) {
		return &Error{Class: c, msg: "the URL points to " + c.String()}
	}
	return nil
}

// numericHost reports whether the last label of a host is a number, which
// makes URL parsers and resolvers read the whole host as an IPv4 address
// (the WHATWG URL standard's "ends in a number").
func numericHost(host string) bool {
	last := host[strings.LastIndexByte(host, '.')+1:]
	if last == "" {
		return false
	}
	if len(last) >= 2 && (last[:2] == "0x" || last[:2] == "0X") {
		last = last[2:]
		for i := 0; i < len(last); i++ {
			if !isHex(last[i]) {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(last); i++ {
		if last[i] < '0' || last[i] > '9' {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// parseInetAton reads an IPv4 address the way inet_aton(3) and the WHATWG
// URL parser do: one to four parts, each decimal, octal (leading 0) or hex
// (0x), the last part filling the remaining bytes ("127.1", "0x7f.1",
// "0177.0.0.1", "2130706433").
func parseInetAton(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	nums := make([]uint64, len(parts))
	for i, part := range parts {
		base, digits := 10, part
		switch {
		case len(part) >= 2 && (part[:2] == "0x" || part[:2] == "0X"):
			base, digits = 16, part[2:]
			if digits == "" {
				digits = "0"
			}
		case len(part) > 1 && part[0] == '0':
			base, digits = 8, part[1:]
		}
		n, err := strconv.ParseUint(digits, base, 32)
		if err != nil || digits == "" || strings.ContainsAny(digits, "+-_") {
			return netip.Addr{}, false
		}
		nums[i] = n
	}
	var v uint64
	for i, n := range nums[:len(nums)-1] {
		if n > 255 {
			return netip.Addr{}, false
		}
		v |= n << (8 * (3 - i))
	}
	last := nums[len(nums)-1]
	if last >= 1<<(8*(5-len(nums))) {
		return netip.Addr{}, false
	}
	v |= last
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

// Control is the net.Dialer.Control of webhook connections: it runs after
// DNS, on every address the dialer tries, so a name that resolves (or is
// rebound) to a refused address is refused too.
func (p Policy) Control(network, address string, _ syscall.RawConn) error {
	if network != "tcp4" && network != "tcp6" {
		return fmt.Errorf("webhook network %s is not allowed", network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("webhook address: %w", err)
	}
	return p.CheckAddr(ap.Addr())
}

// NewHTTPClient returns the client webhooks are sent with. It connects only
// to destinations the policy allows, checked on the resolved address of
// every connection (Policy.Control), so that a tenant cannot aim tokend at
// the inside of its own network (SSRF). It uses no proxy, which would hide
// the destination from that check, and follows no redirect.
func NewHTTPClient(p Policy) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, Control: p.Control}
	return &http.Client{
		Timeout: 10 * time.Second, // the whole exchange: well under the delivery lease
		Transport: &http.Transport{Proxy: nil, DialContext: dialer.DialContext,
			TLSHandshakeTimeout: 5 * time.Second, MaxIdleConnsPerHost: 4},
		// A redirect could lead to a private address the dial check would
		// not see for the original host; receivers must answer directly.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

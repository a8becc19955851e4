package affinity

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// The client's IP address, and its hash as Envoy's source_ip policy makes
// it. Envoy's router hashes the stream's downstream remote address
// (StreamInfo::downstreamRemoteAddress), which is the peer, or, when the
// connection manager is told to (use_remote_address,
// xff_num_trusted_hops), an address taken that many hops from the right of
// X-Forwarded-For. Trusted networks say the same thing without counting
// hops. The text hashed is Envoy's addressAsString
// (source/common/network/address_impl.cc): IPv4 dotted decimal, IPv6 from
// inet_ntop, no port (Envoy's tests check that two ports of one address
// hash alike), no brackets.

// MaxForwardHops is the most entries ClientIP reads from a forwarding
// header. A chain of more trusted proxies ends at the MaxForwardHops-th
// entry from the right.
const MaxForwardHops = 64

// ForwardHeader names the header in which trusted proxies record the
// addresses they forward for.
type ForwardHeader uint8

const (
	// AnyForwardHeader reads the first of X-Forwarded-For, Forwarded and
	// X-Real-IP that the request has. A client can send a header your
	// proxies do not write and that takes precedence; name the header
	// when you know it.
	AnyForwardHeader ForwardHeader = iota
	// XForwardedFor reads X-Forwarded-For: comma-separated addresses,
	// each appended by the proxy that received the request from it.
	XForwardedFor
	// Forwarded reads the for= parameters of RFC 7239 Forwarded:
	// for=192.0.2.60, for="[2001:db8::17]:4711".
	Forwarded
	// XRealIP reads X-Real-IP, one address set by the proxy in front.
	XRealIP
)

// String returns the header's name.
func (f ForwardHeader) String() string {
	switch f {
	case AnyForwardHeader:
		return "any"
	case XForwardedFor:
		return "X-Forwarded-For"
	case Forwarded:
		return "Forwarded"
	case XRealIP:
		return "X-Real-IP"
	}
	return fmt.Sprintf("ForwardHeader(%d)", uint8(f))
}

// ClientIP returns the address of r's client.
//
// That is the direct peer, r.RemoteAddr ("ip:port", "[ip%zone]:port" or a
// bare address; an IPv4-mapped IPv6 peer is given as IPv4, as Envoy and
// net.Listen report a dual-stack socket's IPv4 peers), unless the peer is
// in trusted. Then the first of X-Forwarded-For, Forwarded (its for=
// parameters) and X-Real-IP that r has is walked from its right end, the
// hop nearest to us, to the left: each entry there was written by the hop
// to its right, and is believed while that hop is trusted. The first entry
// not in trusted is the client: an untrusted peer's claims, and what
// clients wrote beyond the first untrusted hop, are ignored. A header of
// trusted proxies only gives its leftmost entry. An entry that is not an
// address (garbage, Forwarded's "unknown" or an obfuscated "_identifier")
// ends the walk at the trusted hop that wrote it, the furthest one we can
// name. Several lines of a header read as one list; empty entries are
// skipped. At most MaxForwardHops entries are read, so a 10,000-entry
// X-Forwarded-For costs what a 64-entry one does.
//
// Entries may carry a port ("192.0.2.1:80", "[2001:db8::1]:80") or
// brackets, which are dropped; zones are refused. An IPv4-mapped entry is
// kept as written, as Envoy keeps it, and matched against trusted in both
// forms.
//
// ClientIP reports false when RemoteAddr holds no IP address (a Unix
// socket), as Envoy's source_ip policy finds nothing there. It allocates
// nothing for addresses without a zone, and is safe for concurrent use as
// long as trusted is not modified. Keys.ClientIP is ClientIP with a
// KeysConfig's trusted networks and ForwardHeader.
func ClientIP(r *http.Request, trusted []netip.Prefix) (netip.Addr, bool) {
	if r == nil {
		return netip.Addr{}, false
	}
	h, ok := clientIP(r, trusted, AnyForwardHeader)
	return h.addr, ok
}

// HashAddr returns the hash Envoy's source_ip policy gives a client at a:
// XXH64 (seed 0) of a as Envoy writes it, with glibc's inet_ntop: IPv4
// dotted decimal; IPv6 in lower-case hex with the longest run of two or
// more zero groups (the first of equals) written "::", which is RFC 5952
// and netip's String, but for glibc's dotted tail on IPv4-compatible
// addresses (::/96 with a nonzero seventh group: "::1.2.3.4", where netip
// writes "::102:304"), which HashAddr follows; IPv4-mapped addresses are
// "::ffff:1.2.3.4" in both. A zone is written "%zone" (Envoy writes the
// numeric scope id, so a named zone hashes differently). The zero Addr
// hashes the empty string. HashAddr allocates nothing unless the zone is
// long, and is safe for concurrent use.
func HashAddr(a netip.Addr) uint64 {
	var buf [64]byte
	return xxhash.Sum64(appendEnvoyAddr(buf[:0], a))
}

// appendEnvoyAddr appends a as Envoy writes it: inet_ntop's text, and the
// zone. It follows glibc's inet_ntop6 step by step, rather than adjusting
// netip's text, and takes a third of netip's time.
func appendEnvoyAddr(b []byte, a netip.Addr) []byte {
	switch {
	case a.Is4():
		return appendDotted(b, a.As4())
	case !a.Is6():
		return b
	}
	s := a.As16()
	var w [8]uint16
	for i := range w {
		w[i] = uint16(s[2*i])<<8 | uint16(s[2*i+1])
	}
	// The longest run of zero groups, the first of equals, if two or more.
	best, bestLen := -1, 1
	for i := 0; i < len(w); i++ {
		if w[i] != 0 {
			continue
		}
		j := i + 1
		for j < len(w) && w[j] == 0 {
			j++
		}
		if j-i > bestLen {
			best, bestLen = i, j-i
		}
		i = j
	}
	for i := 0; i < len(w); i++ {
		if best >= 0 && i >= best && i < best+bestLen {
			if i == best {
				b = append(b, ':')
			}
			continue
		}
		if i != 0 {
			b = append(b, ':')
		}
		// An IPv4 address in IPv6: IPv4-compatible (the first six groups
		// zero) or IPv4-mapped (five, then ffff) ends in dotted decimal.
		if i == 6 && best == 0 && (bestLen == 6 || (bestLen == 5 && w[5] == 0xffff)) {
			b = appendDotted(b, [4]byte{s[12], s[13], s[14], s[15]})
			break
		}
		b = appendHex(b, w[i])
	}
	if best >= 0 && best+bestLen == len(w) {
		b = append(b, ':')
	}
	if z := a.Zone(); z != "" {
		b = append(b, '%')
		b = append(b, z...)
	}
	return b
}

// appendDotted appends ip in dotted decimal.
func appendDotted(b []byte, ip [4]byte) []byte {
	for i, v := range ip {
		if i > 0 {
			b = append(b, '.')
		}
		switch {
		case v >= 100:
			b = append(b, '0'+v/100, '0'+v/10%10, '0'+v%10)
		case v >= 10:
			b = append(b, '0'+v/10, '0'+v%10)
		default:
			b = append(b, '0'+v)
		}
	}
	return b
}

// appendHex appends v in lower-case hex without leading zeros, as
// printf("%x") does.
func appendHex(b []byte, v uint16) []byte {
	const digits = "0123456789abcdef"
	switch {
	case v >= 0x1000:
		b = append(b, digits[v>>12])
		fallthrough
	case v >= 0x100:
		b = append(b, digits[v>>8&0xf])
		fallthrough
	case v >= 0x10:
		b = append(b, digits[v>>4&0xf])
	}
	return append(b, digits[v&0xf])
}

// hop is an address read from the request, with the text Envoy writes
// for it when that is the text it was read from: an IPv4 address, whose
// only accepted form (dotted decimal, no leading zeros) is Envoy's.
// Hashing that text skips formatting the address again.
type hop struct {
	addr netip.Addr
	text string // "" unless it is exactly Envoy's text for addr
}

// hash is the source_ip hash of h.
func (h hop) hash() uint64 {
	if h.text != "" {
		return hashString(h.text)
	}
	return HashAddr(h.addr)
}

// clientIP is ClientIP with the header to read.
func clientIP(r *http.Request, trusted []netip.Prefix, which ForwardHeader) (hop, bool) {
	peer, ok := parsePeer(r.RemoteAddr)
	if !ok {
		return hop{}, false
	}
	if len(trusted) == 0 || !isTrusted(peer.addr, trusted) {
		return peer, true
	}
	lines, rfc7239 := forwardLines(r.Header, which)
	last := peer // the furthest hop we can vouch for
	hops := 0
	for i := len(lines) - 1; i >= 0; i-- {
		line := lines[i]
		for line != "" {
			var entry string
			line, entry = cutLastEntry(line, rfc7239)
			if hops++; hops > MaxForwardHops {
				return last, true
			}
			entry = trimOWS(entry)
			if entry == "" {
				continue // "a,,b": no claim, nothing to believe
			}
			if rfc7239 {
				if entry, ok = forwardedFor(entry); !ok {
					return last, true
				}
			}
			h, ok := parseHop(entry)
			if !ok {
				return last, true
			}
			if !isTrusted(h.addr, trusted) {
				return h, true
			}
			last = h
		}
	}
	return last, true
}

// A failed netip parse allocates its error, so parsePeer and parseHop
// tell the forms apart first, and text that cannot be an address (a Unix
// socket's "@", Forwarded's "unknown") never reaches the parser. Neither
// needs the port, so neither parses it beyond checking its digits.

// parsePeer parses r.RemoteAddr: "ip:port", "[ip%zone]:port", or a bare
// address, with or without brackets. An IPv4-mapped peer is given as
// IPv4.
func parsePeer(s string) (hop, bool) {
	if a, n, ok := scanIPv4(s); ok && (n == len(s) || (s[n] == ':' && validPort(s[n+1:]))) {
		return hop{a, s[:n]}, true // the common case, in one pass
	}
	host := s
	if i := strings.LastIndexByte(s, ':'); i > 0 && validPort(s[i+1:]) {
		switch {
		case s[0] == '[' && s[i-1] == ']':
			host = s[1 : i-1]
		case strings.IndexByte(s[:i], ':') < 0:
			host = s[:i]
		}
	}
	if len(host) >= 2 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	if strings.IndexByte(host, ':') < 0 {
		return hop{}, false // not IPv4, as scanIPv4 found
	}
	addr, zone, _ := strings.Cut(host, "%")
	if !addrText(addr) || (zone == "" && len(addr) < len(host)) {
		return hop{}, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return hop{}, false
	}
	return hop{addr: a.Unmap()}, true
}

// maxHopLen bounds the text of one address: the longest IPv6 address,
// with a dotted tail, brackets and a port, is 53 bytes.
const maxHopLen = 64

// parseHop parses one forwarding-header address: "192.0.2.1",
// "2001:db8::1", optionally with brackets or a port ("192.0.2.1:80",
// "[2001:db8::1]", "[2001:db8::1]:80"). Zones are refused: no address a
// header names has one that means anything here.
func parseHop(s string) (hop, bool) {
	if len(s) > maxHopLen || s == "" {
		return hop{}, false
	}
	if a, n, ok := scanIPv4(s); ok && (n == len(s) || (s[n] == ':' && validPort(s[n+1:]))) {
		return hop{a, s[:n]}, true
	}
	host := s
	if s[0] == '[' {
		j := strings.LastIndexByte(s, ']')
		if j < 0 || (j != len(s)-1 && (s[j+1] != ':' || !validPort(s[j+2:]))) {
			return hop{}, false
		}
		host = s[1:j]
	} else if i := strings.LastIndexByte(s, ':'); i >= 0 && strings.IndexByte(s[:i], ':') < 0 {
		if !validPort(s[i+1:]) {
			return hop{}, false
		}
		host = s[:i]
	}
	if strings.IndexByte(host, ':') < 0 || !addrText(host) {
		return hop{}, false
	}
	a, err := netip.ParseAddr(host)
	return hop{addr: a}, err == nil
}

// scanIPv4 parses the dotted-decimal IPv4 address at the start of s,
// accepting exactly what netip.ParseAddr accepts (four fields of 0 to
// 255, no leading zeros), and returns where it ends: at the end of s, or
// at the first byte that cannot continue the address, which the caller
// checks. One pass, and about half netip's time, which is most of the
// cost of a client-IP key.
func scanIPv4(s string) (netip.Addr, int, bool) {
	var ip [4]byte
	field, val, digits := 0, 0, 0
	i := 0
	for ; i < len(s); i++ {
		ch := s[i]
		if '0' <= ch && ch <= '9' {
			if digits == 1 && val == 0 {
				return netip.Addr{}, 0, false // leading zero
			}
			val = val*10 + int(ch-'0')
			digits++
			if val > 255 {
				return netip.Addr{}, 0, false
			}
			continue
		}
		if ch != '.' || field == 3 {
			break
		}
		if digits == 0 {
			return netip.Addr{}, 0, false
		}
		ip[field] = byte(val)
		field, val, digits = field+1, 0, 0
	}
	if field != 3 || digits == 0 {
		return netip.Addr{}, 0, false
	}
	ip[3] = byte(val)
	return netip.AddrFrom4(ip), i, true
}

// validPort reports whether s is made of digits, as a port is. Its value
// does not matter here.
func validPort(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// addrText reports whether s is non-empty and made only of the bytes of
// IP addresses: hex digits, dots and colons.
func addrText(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case '0' <= ch && ch <= '9', 'a' <= ch && ch <= 'f', 'A' <= ch && ch <= 'F', ch == '.', ch == ':':
		default:
			return false
		}
	}
	return true
}

// isTrusted reports whether a is in one of the trusted networks; an
// IPv4-mapped address matches both IPv4 and IPv6 prefixes.
func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	a = a.WithZone("") // Contains refuses zoned addresses
	if a.Is4In6() {
		u := a.Unmap()
		for _, p := range trusted {
			if p.Contains(u) || p.Contains(a) {
				return true
			}
		}
		return false
	}
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardLines returns the lines of the header to walk, and whether it is
// RFC 7239 Forwarded.
func forwardLines(h http.Header, which ForwardHeader) ([]string, bool) {
	switch which {
	case XForwardedFor:
		return h["X-Forwarded-For"], false
	case Forwarded:
		return h["Forwarded"], true
	case XRealIP:
		return h["X-Real-Ip"], false
	}
	if v := h["X-Forwarded-For"]; len(v) > 0 {
		return v, false
	}
	if v := h["Forwarded"]; len(v) > 0 {
		return v, true
	}
	return h["X-Real-Ip"], false
}

// cutLastEntry splits the comma-separated list s into what precedes its
// last entry and that entry. In Forwarded, commas inside quoted strings
// do not separate. It reads only the bytes of the last entry.
func cutLastEntry(s string, quoted bool) (rest, entry string) {
	if !quoted {
		if i := strings.LastIndexByte(s, ','); i >= 0 {
			return s[:i], s[i+1:]
		}
		return "", s
	}
	inQuote := false
	for i := len(s) - 1; i >= 0; i-- {
		switch s[i] {
		case '"':
			n := 0 // a quote preceded by an odd number of backslashes is escaped
			for j := i - 1; j >= 0 && s[j] == '\\'; j-- {
				n++
			}
			if n%2 == 0 {
				inQuote = !inQuote
			}
		case ',':
			if !inQuote {
				return s[:i], s[i+1:]
			}
		}
	}
	return "", s
}

// forwardedFor returns the value of the for parameter of one Forwarded
// element ("for=192.0.2.60;proto=http"), unquoted. An element without
// one, or with a quoted value that is malformed or has escapes (no address
// has them), has none.
func forwardedFor(elem string) (string, bool) {
	for elem != "" {
		var pair string
		pair, elem = cutPair(elem)
		name, value, ok := strings.Cut(pair, "=")
		if !ok || !strings.EqualFold(trimOWS(name), "for") {
			continue
		}
		value = trimOWS(value)
		if value != "" && value[0] == '"' {
			if len(value) < 2 || value[len(value)-1] != '"' {
				return "", false
			}
			value = value[1 : len(value)-1]
			if strings.IndexByte(value, '\\') >= 0 {
				return "", false
			}
		}
		return value, true
	}
	return "", false
}

// cutPair splits a Forwarded element at its first ";" outside quotes.
func cutPair(s string) (pair, rest string) {
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if inQuote {
				i++
			}
		case '"':
			inQuote = !inQuote
		case ';':
			if !inQuote {
				return s[:i], s[i+1:]
			}
		}
	}
	return s, ""
}

// trimOWS trims HTTP optional whitespace (spaces and tabs).
func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

package affinity

import (
	"net/http"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// The value extractors: each finds its value in the request the way the
// matching Envoy hash method does (source/common/http/hash_policy.cc and
// the parsers in source/common/http/utility.cc), without allocating, and
// hashes the bytes Envoy hashes. What they hash is a wire format (see
// key.go); the golden tests in key_test.go pin it.

// hashString is HashUtil::xxHash64(s): XXH64 with seed 0.
func hashString(s string) uint64 { return xxhash.Sum64String(s) }

// hashSeeded is XXH64(s) with the given seed.
func hashSeeded(s string, seed uint64) uint64 {
	var d xxhash.Digest
	d.ResetWithSeed(seed)
	d.WriteString(s)
	return d.Sum64()
}

// sortOnStack is how many header values hashHeader sorts without
// allocating.
const sortOnStack = 8

// hashHeader hashes the values of one header as HeaderHashMethod does:
// the values (one per header line; Envoy does not split them at commas)
// sorted bytewise, then chained through the seed, h = XXH64(v, seed=h)
// from h = 0. No values means no hash; one empty value has a hash.
func hashHeader(vals []string) (uint64, bool) {
	switch len(vals) {
	case 0:
		return 0, false
	case 1:
		return hashString(vals[0]), true
	}
	var buf [sortOnStack]string
	var sorted []string
	if len(vals) <= sortOnStack {
		sorted = buf[:len(vals)]
	} else {
		sorted = make([]string, len(vals)) // the one allocation: a header of many lines
	}
	copy(sorted, vals)
	sortStrings(sorted)
	var h uint64
	for _, v := range sorted {
		h = hashSeeded(v, h)
	}
	return h, true
}

// sortStrings sorts s bytewise, as std::sort on absl::string_view does:
// insertion sort for the few values headers usually have, a heap sort
// (O(n log n), no recursion) beyond.
func sortStrings(s []string) {
	if len(s) <= 12 {
		for i := 1; i < len(s); i++ {
			for j := i; j > 0 && s[j] < s[j-1]; j-- {
				s[j], s[j-1] = s[j-1], s[j]
			}
		}
		return
	}
	for i := len(s)/2 - 1; i >= 0; i-- {
		siftDown(s, i, len(s))
	}
	for end := len(s) - 1; end > 0; end-- {
		s[0], s[end] = s[end], s[0]
		siftDown(s, 0, end)
	}
}

func siftDown(s []string, root, end int) {
	for {
		child := 2*root + 1
		if child >= end {
			return
		}
		if child+1 < end && s[child] < s[child+1] {
			child++
		}
		if s[root] >= s[child] {
			return
		}
		s[root], s[child] = s[child], s[root]
		root = child
	}
}

// hashCookie hashes the value of a cookie as CookieHashMethod reads it
// (Utility::parseCookieValue): each Cookie header line split at ";"; in
// each piece the name runs from the first non-space byte to the first
// "=", and the value is the rest, with one pair of surrounding double
// quotes removed. The first piece with the name decides; an empty value
// there means no hash. Pieces without "=" are skipped.
//
// needle is the name followed by "=". A cookie name has no "=", so a piece
// is named so exactly when needle starts it after spaces: rather than
// split every piece, this searches for needle and checks that only spaces
// stand between it and the ";" before it. The first such match is the
// first such piece.
func hashCookie(lines []string, needle string) (uint64, bool) {
	v, ok := cookieValue(lines, needle)
	if !ok || v == "" {
		return 0, false
	}
	return hashString(v), true
}

// cookieValue returns the value hashCookie hashes, as found, and whether
// a piece with the name was found. It allocates nothing.
func cookieValue(lines []string, needle string) (string, bool) {
	for _, line := range lines {
		for off := 0; ; {
			i := strings.Index(line[off:], needle)
			if i < 0 {
				break
			}
			i += off
			if !pieceStart(line, i) {
				off = i + 1
				continue
			}
			v := line[i+len(needle):]
			if j := strings.IndexByte(v, ';'); j >= 0 {
				v = v[:j]
			}
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			return v, true
		}
	}
	return "", false
}

// pieceStart reports whether only spaces stand between line[i] and the
// start of line or the ";" before it.
func pieceStart(line string, i int) bool {
	for i--; i >= 0; i-- {
		switch line[i] {
		case ' ':
		case ';':
			return true
		default:
			return false
		}
	}
	return true
}

// hashQuery hashes the value of a query parameter as
// QueryParameterHashMethod does (QueryParamsMulti::parseQueryString,
// which does not decode): the raw query split at "&"; a parameter's name
// is what comes before its first "=" (all of it when there is none, and
// then its value is empty); the first parameter whose raw name equals name
// decides, and its raw value is hashed, empty or not.
//
// A valid name has no "&" or "=", so a parameter is named so exactly when
// name starts it and is followed by "=", "&" or the end; this searches for
// name rather than splitting every parameter.
func hashQuery(raw, name string) (uint64, bool) {
	for off := 0; ; {
		i := strings.Index(raw[off:], name)
		if i < 0 {
			return 0, false
		}
		i += off
		end := i + len(name)
		if i > 0 && raw[i-1] != '&' {
			off = i + 1
			continue
		}
		switch {
		case end == len(raw), raw[end] == '&':
			return hashString(""), true
		case raw[end] == '=':
			v := raw[end+1:]
			if j := strings.IndexByte(v, '&'); j >= 0 {
				v = v[:j]
			}
			return hashString(v), true
		}
		off = i + 1
	}
}

// hashPath hashes what Envoy's ":path" header holds: the request target
// as the server received it (r.RequestURI, in origin form or "*"), or,
// for a request made in this process or received in absolute form, the
// URL's escaped path ("/" when empty) and, when present, "?" and the raw
// query. A CONNECT request has no :path, so no hash.
func hashPath(r *http.Request) (uint64, bool) {
	if r.Method == http.MethodConnect {
		return 0, false
	}
	if u := r.RequestURI; u != "" && (u[0] == '/' || u == "*") {
		return hashString(u), true
	}
	if r.URL == nil {
		return 0, false
	}
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	if r.URL.RawQuery == "" && !r.URL.ForceQuery {
		return hashString(path), true
	}
	var d xxhash.Digest
	d.Reset()
	d.WriteString(path)
	d.WriteString("?")
	d.WriteString(r.URL.RawQuery)
	return d.Sum64(), true
}

package balancer

import "github.com/cespare/xxhash/v2"

// HashString returns the XXH64 hash (seed 0) of key, for Request.Hash. It is
// the hash Envoy applies to header and cookie values, so a key hashes to the
// same value in lbkit and in Envoy.
func HashString(key string) uint64 { return xxhash.Sum64String(key) }

// HashBytes returns the XXH64 hash (seed 0) of key, for Request.Hash.
func HashBytes(key []byte) uint64 { return xxhash.Sum64(key) }

// KeyRequest returns a Request that carries the hash of key.
func KeyRequest(key string) Request { return Request{Hash: HashString(key), HasHash: true} }

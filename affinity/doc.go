// Package affinity sends related requests to the same endpoint, and
// requests to endpoints near them, in front of any lbkit Balancer:
//
//   - Request keys (Keys): a request's hash for the hash pickers (ring
//     hash, Maglev) from its client IP, a header, a cookie, a query
//     parameter or its path, chained as Envoy's hash policies chain and
//     hashed as Envoy hashes them, so an lbkit proxy and an Envoy sidecar
//     with the same ring send a key to the same pod. The client IP
//     believes X-Forwarded-For, Forwarded and X-Real-IP only from
//     trusted proxies.
//   - Sticky sessions (Sticky): a table from any key (a client IP's hash,
//     a user ID's) to the endpoint that served it, with kube-proxy's
//     sessionAffinity: ClientIP semantics: the first request of a key goes
//     through the Balancer, later ones to the same endpoint until the
//     entry has gone unused for its timeout, or its endpoint leaves the
//     set, fails its health checks or is ejected. Bounded memory, no
//     goroutine, lock-free reads.
//   - Cookie sessions (Cookies): the proxy answers a client's first request
//     with a cookie naming its endpoint, as HAProxy's "cookie insert" and
//     Envoy's stateful sessions do, and honours it on every proxy that
//     shares the key. The cookie is opaque and authenticated (HMAC-SHA256,
//     rotating keys): a client cannot steer its requests.
//   - Zone-aware routing (Zones): a Builder around any algorithm's that
//     keeps a proxy's requests in its own zone, with Kubernetes'
//     trafficDistribution: PreferClose semantics or with Envoy's
//     zone-aware routing, which keeps in the zone only what its endpoints
//     can take and spills the rest where there is capacity to spare. It
//     composes with the health package: in panic it routes over every
//     zone, as Envoy does.
//
// Every read path is lock-free and allocation-free: extracting a key,
// looking a session up, honouring a cookie's endpoint index and picking
// through Zones. Writes (a new session, an index rebuilt after an Update)
// take a lock that readers never wait for. Time is injected: each method
// that needs the time takes it in Unix nanoseconds, zero meaning the
// clock, so the simulator runs the same code on its virtual clock.
package affinity

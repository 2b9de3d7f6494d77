package telemetry

import (
	"net/http"
	"net/netip"
	"strings"
)

// clientAddress is the address a request came from: the peer's, or, when
// the peer is a trusted proxy, the right-most X-Forwarded-For entry that is
// not a trusted proxy. Entries left of that one were written by the client
// or by proxies we do not run, so they prove nothing.
func (c *config) clientAddress(r *http.Request) string {
	peer := hostOnly(r.RemoteAddr)
	if len(c.trustedProxies) == 0 || !c.isTrustedProxy(peer) {
		return peer
	}
	client := peer
	values := r.Header.Values("X-Forwarded-For")
	for i := len(values) - 1; i >= 0; i-- {
		list := values[i]
		for list != "" {
			entry := list
			if j := strings.LastIndexByte(list, ','); j >= 0 {
				entry, list = list[j+1:], list[:j]
			} else {
				list = ""
			}
			entry = hostOnly(strings.TrimSpace(entry))
			if entry == "" {
				continue
			}
			addr, err := netip.ParseAddr(entry)
			if err != nil {
				// Garbage from beyond the last trusted hop: stop at that hop.
				return client
			}
			client = entry
			if !c.isTrustedAddr(addr) {
				return client
			}
		}
	}
	return client // every hop is ours: the left-most is the client
}

func (c *config) isTrustedProxy(host string) bool {
	addr, err := netip.ParseAddr(host)
	return err == nil && c.isTrustedAddr(addr)
}

func (c *config) isTrustedAddr(addr netip.Addr) bool {
	addr = addr.WithZone("").Unmap()
	for _, p := range c.trustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// hostOnly strips the port and IPv6 brackets: "[::1]:8080" → "::1",
// "10.0.0.1:443" → "10.0.0.1", "10.0.0.1" and "::1" as they are.
func hostOnly(hostport string) string {
	if strings.HasPrefix(hostport, "[") {
		if end := strings.IndexByte(hostport, ']'); end > 0 {
			return hostport[1:end]
		}
		return hostport
	}
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 && strings.IndexByte(hostport, ':') == i {
		return hostport[:i] // one colon: IPv4 or a name with a port
	}
	return hostport
}

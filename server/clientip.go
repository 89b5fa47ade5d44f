package server

import (
	"net"
	"net/netip"
	"strings"

	"github.com/gin-gonic/gin"
)

// clientAddrKey caches the client's address on the request's context.
const clientAddrKey = "client_addr"

// clientIP is the address of the client behind the request, as rate limits
// and per-address caps should count it: the peer's address, unless the peer
// is a trusted proxy (Config.TrustedProxies), in which case the last hop of
// X-Forwarded-For that is not itself a trusted proxy. A header from an
// untrusted peer is ignored, so a client cannot pick its own address.
func (s *Server) clientIP(c *gin.Context) netip.Addr {
	if v, ok := c.Get(clientAddrKey); ok {
		return v.(netip.Addr)
	}
	a := s.resolveClientIP(c)
	c.Set(clientAddrKey, a)
	return a
}

func (s *Server) resolveClientIP(c *gin.Context) netip.Addr {
	peer := remoteAddr(c.Request.RemoteAddr)
	if !s.trusted(peer) {
		return peer
	}
	hops := forwardedFor(c.Request.Header.Values("X-Forwarded-For"))
	for i := len(hops) - 1; i >= 0; i-- {
		if !s.trusted(hops[i]) {
			return hops[i]
		}
	}
	if len(hops) > 0 {
		return hops[0] // every hop is a proxy of ours: the first is the client
	}
	return peer
}

// trusted reports whether a is one of the configured proxies.
func (s *Server) trusted(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// fromTrustedProxy reports whether the request came through a trusted proxy,
// whose X-Forwarded-* headers may be believed.
func (s *Server) fromTrustedProxy(c *gin.Context) bool {
	return s.trusted(remoteAddr(c.Request.RemoteAddr))
}

// secureRequest reports whether the browser reached us over HTTPS: directly,
// through a trusted proxy that says so (X-Forwarded-Proto: https), or because
// the operator said every visitor does (Config.SecureCookies).
func (s *Server) secureRequest(c *gin.Context) bool {
	if s.cfg.SecureCookies || c.Request.TLS != nil {
		return true
	}
	if !s.fromTrustedProxy(c) {
		return false
	}
	// The nearest proxy's word is the last one.
	protos := c.Request.Header.Values("X-Forwarded-Proto")
	if len(protos) == 0 {
		return false
	}
	last := protos[len(protos)-1]
	if i := strings.LastIndexByte(last, ','); i >= 0 {
		last = last[i+1:]
	}
	return strings.EqualFold(strings.TrimSpace(last), "https")
}

// remoteAddr parses a RemoteAddr ("ip:port"); an unparsable one is the zero
// Addr, which every such client shares.
func remoteAddr(s string) netip.Addr {
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		host = s
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

// maxForwardedHops bounds how much of X-Forwarded-For is looked at.
const maxForwardedHops = 32

// forwardedFor lists the addresses of X-Forwarded-For, left to right, over
// every copy of the header. Entries that are not addresses (an "unknown", a
// garbled value) end the list there: nothing left of them can be checked.
func forwardedFor(values []string) []netip.Addr {
	var hops []netip.Addr
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			a, err := netip.ParseAddr(part)
			if err != nil {
				// Some proxies write ip:port or [v6]:port.
				ap, perr := netip.ParseAddrPort(part)
				if perr != nil {
					hops = hops[:0] // only the hops right of it are known
					continue
				}
				a = ap.Addr()
			}
			hops = append(hops, a.Unmap().WithZone(""))
			if len(hops) > maxForwardedHops {
				hops = hops[1:]
			}
		}
	}
	return hops
}

// ParseTrustedProxies reads a comma-separated list of CIDRs or single
// addresses ("10.0.0.0/8, 127.0.0.1").
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if p, err := netip.ParsePrefix(part); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil {
			return nil, &net.ParseError{Type: "CIDR address", Text: part}
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

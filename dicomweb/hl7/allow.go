package hl7

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/minipacs/minipacs/dicomweb/security/transport"
)

// AllowList says which senders may send messages: per entry a sending
// facility (MSH-4, or * for any) and a source address (an IP address, a
// CIDR prefix, or * for any).
type AllowList struct {
	entries []allowEntry
}

type allowEntry struct {
	facility string // "" for any
	anyAddr  bool
	prefix   netip.Prefix
}

// LoadAllowList reads an allow-list file (ParseAllowList).
func LoadAllowList(path string) (*AllowList, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("hl7: allow list: %w", err)
	}
	defer f.Close()
	a, err := ParseAllowList(f)
	if err != nil {
		return nil, fmt.Errorf("hl7: allow list %s: %w", path, err)
	}
	return a, nil
}

// ParseAllowList parses the allow-list format: per line a sending
// facility (or *) and a source address (IP address, CIDR prefix or *);
// blank lines and text after '#' are ignored. "* *" allows everyone.
func ParseAllowList(r io.Reader) (*AllowList, error) {
	a := &AllowList{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return nil, fmt.Errorf("line %d: want 2 fields (facility, address), got %d", n, len(f))
		}
		e := allowEntry{}
		if f[0] != "*" {
			e.facility = f[0]
		}
		switch h := f[1]; {
		case h == "*":
			e.anyAddr = true
		case strings.Contains(h, "/"):
			p, err := netip.ParsePrefix(h)
			if err != nil {
				return nil, fmt.Errorf("line %d: address: %w", n, err)
			}
			if p.Addr().Is4In6() {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			e.prefix = p.Masked()
		default:
			ip, err := netip.ParseAddr(h)
			if err != nil {
				return nil, fmt.Errorf("line %d: address %q: want an IP address, a CIDR prefix or *", n, h)
			}
			ip = ip.Unmap()
			e.prefix = netip.PrefixFrom(ip, ip.BitLen())
		}
		a.entries = append(a.entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return a, nil
}

func addrOf(remote net.Addr) netip.Addr {
	switch ra := remote.(type) {
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(ra.IP)
		return ip.Unmap()
	case nil:
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(remote.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

func (e allowEntry) matchAddr(ip netip.Addr) bool {
	return e.anyAddr || ip.IsValid() && e.prefix.Contains(ip)
}

// AllowAddr reports whether some entry allows the source address at all
// (checked when the connection opens). A nil list allows everything.
func (a *AllowList) AllowAddr(remote net.Addr) bool {
	if a == nil {
		return true
	}
	ip := addrOf(remote)
	for _, e := range a.entries {
		if e.matchAddr(ip) {
			return true
		}
	}
	return false
}

// Allow reports whether facility (MSH-4, see Message.Sender) may send
// from remote. A nil list allows everything.
func (a *AllowList) Allow(facility string, remote net.Addr) bool {
	if a == nil {
		return true
	}
	ip := addrOf(remote)
	for _, e := range a.entries {
		if (e.facility == "" || e.facility == facility) && e.matchAddr(ip) {
			return true
		}
	}
	return false
}

// CheckExposure refuses an HL7 listener on a non-loopback address without
// an allow list: messages change patient and order data.
func CheckExposure(listen string, allow *AllowList) error {
	if allow != nil || transport.IsLoopback(listen) {
		return nil
	}
	return fmt.Errorf("refusing to listen for HL7 on %s without an allow list of sending facilities and addresses "+
		"(a file of lines \"FACILITY ADDRESS-or-CIDR-or-*\"; \"* *\" allows everyone); or listen on 127.0.0.1", listen)
}

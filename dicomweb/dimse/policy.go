package dimse

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// Op is a set of DIMSE operations a peer may perform.
type Op uint8

// The operations of a peer (the peers file's names in parentheses).
const (
	OpEcho   Op = 1 << iota // echo: C-ECHO
	OpStore                 // store: C-STORE to us
	OpFind                  // find: C-FIND
	OpMove                  // move: C-MOVE
	OpGet                   // get: C-GET
	OpCommit                // commit: storage commitment
	OpAll    = OpEcho | OpStore | OpFind | OpMove | OpGet | OpCommit
)

var opNames = []struct {
	name string
	op   Op
}{{"echo", OpEcho}, {"store", OpStore}, {"find", OpFind}, {"move", OpMove}, {"get", OpGet}, {"commit", OpCommit}, {"all", OpAll}}

func (o Op) String() string {
	var s []string
	for _, n := range opNames[:6] {
		if o&n.op != 0 {
			s = append(s, n.name)
		}
	}
	return strings.Join(s, ",")
}

// Peer is one line of the peers file: an application entity allowed to
// associate from some addresses.
type Peer struct {
	AETitle string
	// Hosts are the source addresses allowed (an IP is a /32 or /128).
	// Empty: any address.
	Hosts netip.Prefix
	Any   bool // host "*"
	// Port is where the peer listens (for C-MOVE), 0 when unknown.
	Port int
	Ops  Op
}

// Policy decides who may associate and what they may do.
type Policy struct {
	// AcceptAny lets every calling AE title, from any address, do every
	// operation (--dimse-accept-any).
	AcceptAny bool
	// Peers are the known peers (--dimse-peers).
	Peers []Peer
}

// Allow reports the operations callingAE may perform from remote, and
// whether it may associate at all.
func (p *Policy) Allow(callingAE string, remote net.Addr) (Op, bool) {
	if p == nil {
		return 0, false
	}
	if p.AcceptAny {
		return OpAll, true
	}
	var ip netip.Addr
	if ta, ok := remote.(*net.TCPAddr); ok {
		ip, _ = netip.AddrFromSlice(ta.IP)
		ip = ip.Unmap()
	}
	for _, peer := range p.Peers {
		if peer.AETitle != callingAE {
			continue
		}
		if peer.Any || (ip.IsValid() && peer.Hosts.Contains(ip)) {
			return peer.Ops, peer.Ops != 0
		}
	}
	return 0, false
}

// Peer returns the first peer named aeTitle (for C-MOVE destinations).
func (p *Policy) Peer(aeTitle string) (Peer, bool) {
	if p != nil {
		for _, peer := range p.Peers {
			if peer.AETitle == aeTitle {
				return peer, true
			}
		}
	}
	return Peer{}, false
}

// LoadPeers reads a peers file (see the package documentation).
func LoadPeers(path string) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dimse: peers: %w", err)
	}
	defer f.Close()
	p, err := ParsePeers(f)
	if err != nil {
		return nil, fmt.Errorf("dimse: peers %s: %w", path, err)
	}
	return p, nil
}

// ParsePeers parses the peers file format: per line an AE title, a host
// (IP address, CIDR prefix or *), a port (or -) and a comma-separated list
// of operations; blank lines and text after '#' are ignored.
func ParsePeers(r io.Reader) (*Policy, error) {
	p := &Policy{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 4 {
			return nil, fmt.Errorf("line %d: want 4 fields (AE title, host, port, operations), got %d", n, len(f))
		}
		peer := Peer{AETitle: f[0]}
		if !validAE(peer.AETitle) {
			return nil, fmt.Errorf("line %d: invalid AE title %q", n, f[0])
		}
		switch h := f[1]; {
		case h == "*":
			peer.Any = true
		case strings.Contains(h, "/"):
			pfx, err := netip.ParsePrefix(h)
			if err != nil {
				return nil, fmt.Errorf("line %d: host: %w", n, err)
			}
			peer.Hosts = pfx.Masked()
		default:
			ip, err := netip.ParseAddr(h)
			if err != nil {
				return nil, fmt.Errorf("line %d: host %q: want an IP address, a CIDR prefix or *", n, h)
			}
			ip = ip.Unmap()
			peer.Hosts = netip.PrefixFrom(ip, ip.BitLen())
		}
		if f[2] != "-" {
			port, err := strconv.Atoi(f[2])
			if err != nil || port < 1 || port > 65535 {
				return nil, fmt.Errorf("line %d: port %q", n, f[2])
			}
			peer.Port = port
		}
		for _, name := range strings.Split(f[3], ",") {
			found := false
			for _, o := range opNames {
				if o.name == name {
					peer.Ops |= o.op
					found = true
				}
			}
			if !found {
				return nil, fmt.Errorf("line %d: unknown operation %q", n, name)
			}
		}
		p.Peers = append(p.Peers, peer)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

// validAE reports whether s is a valid AE title (PS3.5 6.2: 1 to 16
// characters of the default repertoire, no backslash or control
// character, not only spaces).
func validAE(s string) bool {
	if len(s) == 0 || len(s) > 16 || strings.TrimSpace(s) == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e || s[i] == '\\' {
			return false
		}
	}
	return true
}

package dimse

import (
	"crypto/tls"
	"net"
	"syscall"
)

// quickAck asks Linux to acknowledge the next segments at once instead of
// delaying the ACK (TCP_QUICKACK, which the kernel turns off again by
// itself). Peers that leave Nagle's algorithm on (DCMTK does) send the
// small command PDU of a C-STORE, then wait for its ACK before sending
// the data set: with a delayed ACK, that is 40 ms per instance.
func quickAck(c net.Conn) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}

package sidecar

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// connCap caps a listener's open connections (http.max_connections)
// without queueing past the cap:
//
//   - under the cap a connection is served;
//   - at the cap, the oldest connection that has not sent a single byte
//     (http.StateNew: an idle flood, a slowloris that never starts) is
//     closed to make room, so clients that do send requests keep being
//     served however many such connections are opened;
//   - at the cap with every connection busy or in keep-alive, the new
//     connection is answered 503 with Retry-After and closed, never left
//     waiting in the accept queue.
//
// The server's ConnState hook must be connCap.track, so it knows which
// connections have sent nothing yet.
type connCap struct {
	net.Listener
	slots  chan struct{} // one per open connection
	reject chan struct{} // bounds the goroutines writing 503s

	mu    sync.Mutex
	fresh map[net.Conn]time.Time // in http.StateNew, with when they were seen
}

// maxRejecting bounds the 503s being written at once; past it an excess
// connection is closed without one.
const maxRejecting = 64

func newConnCap(ln net.Listener, max int) *connCap {
	return &connCap{Listener: ln, slots: make(chan struct{}, max), reject: make(chan struct{}, maxRejecting), fresh: map[net.Conn]time.Time{}}
}

// Accept returns the next connection that fits under the cap, evicting
// or refusing as described on connCap.
func (l *connCap) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &cappedConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
		}
		if l.evictSilent() {
			l.slots <- struct{}{} // the evicted connection's slot, freed by its Close
			return &cappedConn{Conn: c, release: func() { <-l.slots }}, nil
		}
		select {
		case l.reject <- struct{}{}:
			go func() {
				defer func() { <-l.reject }()
				refuse(c)
			}()
		default:
			c.Close()
		}
	}
}

// evictSilent closes the oldest connection that has sent nothing, and
// reports whether there was one.
func (l *connCap) evictSilent() bool {
	l.mu.Lock()
	var oldest net.Conn
	var at time.Time
	for c, t := range l.fresh {
		if oldest == nil || t.Before(at) {
			oldest, at = c, t
		}
	}
	delete(l.fresh, oldest)
	l.mu.Unlock()
	if oldest == nil {
		return false
	}
	oldest.Close() // releases its slot before returning
	return true
}

// track is the server's ConnState hook.
func (l *connCap) track(c net.Conn, st http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if st == http.StateNew {
		l.fresh[c] = time.Now()
		return
	}
	delete(l.fresh, c)
}

// overloadedBody is the problem a connection past the cap is answered.
const overloadedBody = `{"type":"https://holdline.dev/problems/unavailable","title":"Service unavailable","status":503,"detail":"too many connections; try again"}`

// refuse answers 503 and closes c. It reads the request's head first
// (for up to a second): an HTTP client that gets an answer before it has
// sent its request takes it for a broken connection, not for a 503. It
// then drops what else the client sent, so that the close does not reset
// the connection before the client reads the answer.
func refuse(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := http.ReadRequest(bufio.NewReader(io.LimitReader(c, 64<<10))); err != nil {
		return // silent, too slow, or not HTTP: no answer
	}
	head := "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\n" +
		"Retry-After: 1\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(overloadedBody)) + "\r\n\r\n"
	if _, err := io.WriteString(c, head+overloadedBody); err != nil {
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(c, 64<<10))
}

// cappedConn gives its slot back when closed, once.
type cappedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *cappedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

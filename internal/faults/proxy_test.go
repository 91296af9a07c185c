package faults

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// proxy forwards TCP connections to a backend until it is told to
// black-hole: from then on, every connection open or accepted stops
// forwarding in both directions without being closed, as a dead network
// path or a stateful firewall that dropped its entry would do. After
// restore, new connections are forwarded again; black-holed ones stay so.
type proxy struct {
	ln      net.Listener
	backend string

	mu     sync.Mutex
	holed  bool
	conns  map[*pipe]struct{}
	closed atomic.Bool
}

type pipe struct {
	client, server net.Conn
	dead           atomic.Bool // black-holed: forward nothing more
}

func newProxy(backend string) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, backend: backend, conns: map[*pipe]struct{}{}}
	go p.accept()
	return p, nil
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.serve(c)
	}
}

func (p *proxy) serve(c net.Conn) {
	pp := &pipe{client: c}
	p.mu.Lock()
	holed := p.holed
	p.conns[pp] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.conns, pp)
		p.mu.Unlock()
	}()
	if holed {
		// Accepted, never answered: hold it until the client gives up.
		pp.dead.Store(true)
		_, _ = io.Copy(io.Discard, c)
		c.Close()
		return
	}
	s, err := net.DialTimeout("tcp", p.backend, 2*time.Second)
	if err != nil {
		c.Close()
		return
	}
	pp.server = s
	fromClient, fromServer := make(chan struct{}), make(chan struct{})
	go func() { pp.copy(s, c); close(fromClient) }()
	go func() { pp.copy(c, s); close(fromServer) }()
	select {
	case <-fromClient:
		// The client is gone: nothing is left to keep open.
	case <-fromServer:
		// The server ended the session: a forwarding pipe passes that on;
		// a black-holed one keeps the client open (and silent) until the
		// client gives up.
		if pp.dead.Load() {
			<-fromClient
		}
	}
	c.Close()
	s.Close()
}

// copy forwards src to dst until the pipe is black-holed; then it keeps
// reading src (so the peer sees no error) and forwards nothing.
func (pp *pipe) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !pp.dead.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// blackhole stops forwarding on every connection, open or new.
func (p *proxy) blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.holed = true
	for pp := range p.conns {
		pp.dead.Store(true)
	}
}

// restore forwards new connections again.
func (p *proxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.holed = false
}

func (p *proxy) close() {
	if p.closed.Swap(true) {
		return
	}
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for pp := range p.conns {
		pp.client.Close()
		if pp.server != nil {
			pp.server.Close()
		}
	}
}

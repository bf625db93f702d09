package admit

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func tcp(s string) net.Addr { return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)) }

func TestGateRatePerSource(t *testing.T) {
	g := New(Config{RatePerIP: 2, BurstPerIP: 3, MaxHandshakesPerIP: 100})
	now := time.Unix(1000, 0)
	g.now = func() time.Time { return now }
	a, b := tcp("10.0.0.1:1"), tcp("10.0.0.2:1")
	for i := range 3 {
		rel, ok := g.Admit(a)
		if !ok {
			t.Fatalf("connection %d within the burst refused", i)
		}
		rel()
	}
	if _, ok := g.Admit(a); ok {
		t.Fatal("a connection beyond the burst was admitted")
	}
	// Another source has its own bucket.
	if rel, ok := g.Admit(b); !ok {
		t.Fatal("another source was refused")
	} else {
		rel()
	}
	now = now.Add(time.Second) // two tokens back
	for i := range 2 {
		rel, ok := g.Admit(a)
		if !ok {
			t.Fatalf("connection %d after a second refused", i)
		}
		rel()
	}
	if _, ok := g.Admit(a); ok {
		t.Fatal("the refill gave more than the rate")
	}
	if s := g.Stats(); s.RateLimited != 2 || s.Admitted != 6 || s.InFlight != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestGateConcurrentBounds(t *testing.T) {
	g := New(Config{MaxHandshakes: 4, MaxHandshakesPerIP: 2, RatePerIP: -1})
	var rels []func()
	admit := func(addr string) bool {
		rel, ok := g.Admit(tcp(addr))
		if ok {
			rels = append(rels, rel)
		}
		return ok
	}
	if !admit("10.0.0.1:1") || !admit("10.0.0.1:2") {
		t.Fatal("refused within the per-source bound")
	}
	if admit("10.0.0.1:3") {
		t.Fatal("a third handshake from one source was admitted")
	}
	if !admit("10.0.0.2:1") || !admit("10.0.0.3:1") {
		t.Fatal("other sources refused within the global bound")
	}
	if admit("10.0.0.4:1") {
		t.Fatal("a fifth handshake was admitted")
	}
	rels[0]()
	rels[0]() // a second release changes nothing
	if !admit("10.0.0.1:4") {
		t.Fatal("a released slot was not reused")
	}
	if s := g.Stats(); s.Busy != 2 || s.InFlight != 4 {
		t.Fatalf("stats %+v", s)
	}
	for _, r := range rels {
		r()
	}
	if s := g.Stats(); s.InFlight != 0 {
		t.Fatalf("in flight after every release: %d", s.InFlight)
	}
}

func TestSourceOf(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"[2001:db8:1:2:aaaa::1]:1", "[2001:db8:1:2:bbbb::9]:2"}, // one /64
		{"[::ffff:10.0.0.1]:1", "10.0.0.1:2"},                    // v4-mapped is v4
	} {
		p, _ := sourceOf(tcp(tc.a))
		q, _ := sourceOf(tcp(tc.b))
		if p != q {
			t.Errorf("%s and %s are different sources: %v %v", tc.a, tc.b, p, q)
		}
	}
	p, _ := sourceOf(tcp("[2001:db8:1:2::1]:1"))
	q, _ := sourceOf(tcp("[2001:db8:1:3::1]:1"))
	if p == q {
		t.Error("two /64s are one source")
	}
}

func TestGateTableBounded(t *testing.T) {
	g := New(Config{RatePerIP: 1, BurstPerIP: 1})
	now := time.Unix(1000, 0)
	g.now = func() time.Time { return now }
	for i := range maxSources + 10 {
		ip := net.IPv4(10, byte(i>>16), byte(i>>8), byte(i))
		rel, ok := g.Admit(&net.TCPAddr{IP: ip, Port: 1})
		if !ok {
			t.Fatalf("source %d refused", i)
		}
		rel()
	}
	if n := len(g.sources); n > maxSources {
		t.Fatalf("%d sources tracked, bound %d", n, maxSources)
	}
	now = now.Add(2 * time.Second) // every bucket is full again: sweepable
	rel, ok := g.Admit(tcp("11.0.0.1:1"))
	if !ok {
		t.Fatal("new source refused after the others went idle")
	}
	rel()
	if n := len(g.sources); n > 100 {
		t.Fatalf("idle sources not swept: %d left", n)
	}
}

// selfSigned is a server certificate for the listener tests.
func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// TestListenerFloodDoesNotBlockGenuineClient: a flood of connections that
// start no handshake (or send junk), all from one source, holds at most
// MaxHandshakesPerIP handshake goroutines; the rest are closed at once. A
// client from another address completes its handshake while the flood's
// connections are still open, and Accept hands it over.
func TestListenerFloodDoesNotBlockGenuineClient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conf := selfSigned(t)
	g := New(Config{MaxHandshakes: 64, MaxHandshakesPerIP: 8, RatePerIP: -1, HandshakeTimeout: time.Minute})
	l := NewTLSListener(ln, conf, g)
	t.Cleanup(func() { l.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	before := runtime.NumGoroutine()
	const flood = 300
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 10 * time.Second}
	var held []net.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	for i := range flood {
		c, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatalf("flood dial %d: %v", i, err)
		}
		if i%2 == 1 {
			c.Write([]byte("\x16\x03\x01\x00\x05junk")) // a record header and too few bytes
		}
		held = append(held, c)
	}
	deadline := time.Now().Add(30 * time.Second)
	for g.Stats().Admitted+g.Stats().Busy < flood && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	s := g.Stats()
	if s.Admitted+s.Busy != flood || s.InFlight > 8 || s.Busy < flood-8 {
		t.Fatalf("flood: %+v; want at most 8 admitted and in flight, the rest busy", s)
	}
	if n := runtime.NumGoroutine() - before; n > 8+4 {
		t.Fatalf("flood of %d connections made %d goroutines", flood, n)
	}
	// A genuine client from 127.0.0.1 is served while the flood holds its
	// slots (their handshakes have a minute left).
	pool := x509.NewCertPool()
	leaf, _ := x509.ParseCertificate(conf.Certificates[0].Certificate[0])
	pool.AddCert(leaf)
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 20 * time.Second}, "tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("genuine client during the flood: %v", err)
	}
	defer c.Close()
	select {
	case sc := <-accepted:
		if sc == nil {
			t.Fatal("listener closed")
		}
		sc.Close()
	case <-time.After(20 * time.Second):
		t.Fatal("the genuine connection was not handed to Accept")
	}
	// The genuine connection's slot is given back just after it is handed
	// to Accept, so wait for that instead of reading the count at once.
	for deadline := time.Now().Add(10 * time.Second); g.Stats().InFlight > 8 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if s := g.Stats(); s.InFlight > 8 {
		t.Fatalf("in flight %d", s.InFlight)
	}
	// Close ends the flood's handshakes too (goleak checks).
	l.Close()
}

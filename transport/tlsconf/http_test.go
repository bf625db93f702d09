package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
)

// A client with only the CA (a scraper, a browser) reaches the admin port
// and verifies the node's certificate by host name; no client certificate
// is asked for.
func TestHTTPServerConfig(t *testing.T) {
	ca := testCA(t)
	s := nodeStore(t, ca, "n1")
	roots := x509.NewCertPool()
	roots.AddCert(parseCert(t, ca.Pair().CertPEM))
	r := handshake(t, s.HTTPServerConfig(), &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if r.server != nil || r.client != nil {
		t.Fatalf("handshake: server %v, client %v", r.server, r.client)
	}
	if got := r.clientState.PeerCertificates[0]; !got.Equal(s.Certificate()) {
		t.Fatal("server presented another certificate")
	}
	if r := handshake(t, s.HTTPServerConfig(), &tls.Config{RootCAs: x509.NewCertPool(), ServerName: "localhost"}); r.client == nil {
		t.Fatal("client without the CA accepted the certificate")
	}
}

func parseCert(t *testing.T, pemBytes []byte) *x509.Certificate {
	t.Helper()
	der, ok := pemDecode(pemBytes)
	if !ok {
		t.Fatal("bad PEM")
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

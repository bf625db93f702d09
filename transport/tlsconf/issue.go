package tlsconf

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// Certificate issuing, used by tests and by `sessionraft certs`. Keys are
// ECDSA P-256: fast handshakes, and understood by every TLS stack a
// redis-cli might be built with.

// clockSkew backdates NotBefore so a certificate issued on one machine is
// valid at once on a peer whose clock is a little behind.
const clockSkew = 5 * time.Minute

// KeyPair is a PEM certificate and its PEM (PKCS#8) private key.
type KeyPair struct {
	CertPEM []byte
	KeyPEM  []byte
}

// Write stores the pair: the key with mode 0600. Each file is written to a
// temporary name and renamed, so a concurrent Reload never reads half a file.
func (kp KeyPair) Write(certPath, keyPath string) error {
	if err := writeAtomic(certPath, kp.CertPEM, 0o644); err != nil {
		return err
	}
	return writeAtomic(keyPath, kp.KeyPEM, 0o600)
}

// Authority is a CA able to issue node and client certificates.
type Authority struct {
	Cert *x509.Certificate
	key  crypto.Signer
	pair KeyPair
}

// NewCA makes a self-signed CA valid until notAfter.
func NewCA(name string, notAfter time.Time) (*Authority, error) {
	if name == "" {
		name = "sessionraft cluster CA"
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl, err := baseTemplate(name, notAfter)
	if err != nil {
		return nil, err
	}
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	kp, cert, err := sign(tmpl, tmpl, key, key)
	if err != nil {
		return nil, err
	}
	return &Authority{Cert: cert, key: key, pair: kp}, nil
}

// LoadAuthority reads a CA written by Authority.Pair().Write, to issue more
// certificates later.
func LoadAuthority(certPEM, keyPEM []byte) (*Authority, error) {
	blk, _ := pem.Decode(certPEM)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%w: CA certificate: no PEM certificate", ErrBadFile)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: CA certificate: %w", ErrBadFile, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("%w: certificate %q is not a CA", ErrBadFile, cert.Subject.CommonName)
	}
	kblk, _ := pem.Decode(keyPEM)
	if kblk == nil {
		return nil, fmt.Errorf("%w: CA key: no PEM block", ErrBadFile)
	}
	k, err := x509.ParsePKCS8PrivateKey(kblk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: CA key: %w", ErrBadFile, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: CA key of type %T cannot sign", ErrBadFile, k)
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%w: CA key does not match the CA certificate", ErrBadFile)
	}
	return &Authority{Cert: cert, key: signer, pair: KeyPair{CertPEM: certPEM, KeyPEM: keyPEM}}, nil
}

// Pair is the CA's certificate and key in PEM. Only CertPEM belongs on the
// nodes; keep KeyPEM offline.
func (a *Authority) Pair() KeyPair { return a.pair }

// IssueNode issues a certificate for node id, valid until notAfter, for
// both server and client use. hosts are DNS names or IP addresses the
// node's client port may be reached at (they are not the node's identity).
func (a *Authority) IssueNode(id string, hosts []string, notAfter time.Time) (KeyPair, error) {
	if err := CheckID(id); err != nil {
		return KeyPair{}, err
	}
	tmpl, err := baseTemplate(id, notAfter)
	if err != nil {
		return KeyPair{}, err
	}
	tmpl.URIs = []*url.URL{NodeURI(id)}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	return a.issue(tmpl)
}

// IssueClient issues a client-only certificate for name (an operator or a
// tool), valid until notAfter. It names no node, so the internal port
// refuses it.
func (a *Authority) IssueClient(name string, notAfter time.Time) (KeyPair, error) {
	if err := CheckID(name); err != nil {
		return KeyPair{}, err
	}
	tmpl, err := baseTemplate(name, notAfter)
	if err != nil {
		return KeyPair{}, err
	}
	tmpl.URIs = []*url.URL{ClientURI(name)}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	return a.issue(tmpl)
}

func (a *Authority) issue(tmpl *x509.Certificate) (KeyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return KeyPair{}, err
	}
	kp, _, err := sign(tmpl, a.Cert, key, a.key)
	return kp, err
}

func baseTemplate(cn string, notAfter time.Time) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	notBefore := time.Now().Add(-clockSkew)
	if !notAfter.After(notBefore) {
		return nil, errors.New("tlsconf: notAfter must be later than now minus the clock skew allowance")
	}
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"sessionraft"}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
	}, nil
}

func sign(tmpl, parent *x509.Certificate, key *ecdsa.PrivateKey, parentKey crypto.Signer) (KeyPair, *x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return KeyPair{}, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return KeyPair{}, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return KeyPair{}, nil, err
	}
	return KeyPair{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
	}, cert, nil
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

package yellowstone

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/firehole/firehole/proto/geyser"
	"github.com/firehole/firehole/services/ingestor/internal/geyserfake"
	"github.com/firehole/firehole/services/ingestor/internal/metrics"
)

// TestCompressedStream checks that the client advertises gzip and zstd and
// reads a stream the server compresses with either.
func TestCompressedStream(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"zstd", "gzip"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			big := acct(9, 1)
			big.GetAccount().GetAccount().Data = make([]byte, 1<<20) // compresses well
			srv := geyserfake.Start(t, func(s *geyserfake.Stream) error {
				if err := s.SetSendCompressor(name); err != nil {
					return err
				}
				if err := s.Send(big); err != nil {
					return err
				}
				return geyserfake.Hold(s)
			})
			h := newRecorder()
			startClient(t, srv.Addr, Options{}, h)
			h.waitFor(t, "the compressed update", func() bool { return len(h.updates) == 1 })
			if n := len(h.updates[0].GetAccount().GetAccount().GetData()); n != 1<<20 {
				t.Errorf("data is %d bytes", n)
			}
		})
	}
}

// TestTLSWithCAFile dials a TLS server whose certificate is signed by a CA
// given as CA_FILE.
func TestTLSWithCAFile(t *testing.T) {
	t.Parallel()
	caFile, serverCert := testPKI(t)
	srv := geyserfake.Start(t, func(s *geyserfake.Stream) error {
		if err := s.Send(slotUpd(1, geyser.SlotStatus_SLOT_PROCESSED)); err != nil {
			return err
		}
		return geyserfake.Hold(s)
	}, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{serverCert}})))
	_, port, _ := net.SplitHostPort(srv.Addr)

	RegisterCompressors()
	conn, err := Dial(DialOptions{Target: "localhost:" + port, TLS: true, CAFile: caFile,
		KeepaliveTime: 10 * time.Second, KeepaliveTimeout: time.Second, MaxRecvBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	h := newRecorder()
	c := New(conn, Options{Request: &geyser.SubscribeRequest{}, SilenceTimeout: 10 * time.Second,
		BackoffMin: time.Millisecond, BackoffMax: time.Millisecond}, h, zerolog.Nop(), metrics.New(nil, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	h.waitFor(t, "an update over TLS", func() bool { return len(h.updates) == 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// A CA file that cannot be read fails the dial at start.
	if _, err := Dial(DialOptions{Target: "localhost:" + port, CAFile: filepath.Join(t.TempDir(), "missing.pem")}); err == nil {
		t.Error("Dial accepted a missing CA file")
	}
}

// testPKI writes a CA certificate to a file and returns it with a server
// certificate for localhost signed by it.
func testPKI(t *testing.T) (string, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return caFile, tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key}
}

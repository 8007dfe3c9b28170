// Package imdsdoc is a small IMDSv2 server on 127.0.0.1 that serves an EC2
// instance identity document signed with a test key, in every form Vault's
// ec2 login takes: /document with /signature (RSA PKCS#1 v1.5, SHA-256),
// and the PKCS#7 SignedData of /rsa2048 and /pkcs7 (RSA, SHA-256, the
// document embedded). Register the signer's certificate with Vault's
// auth/<mount>/config/certificate/<name> (type pkcs7, and type identity)
// and Vault accepts the document as if AWS had signed it.
//
// Real AWS signs /pkcs7 with DSA; this server signs both PKCS#7 paths with
// the RSA key, so the two differ only in the path an agent fetches. Hits
// counts each path, so a test can see which one an agent used.
//
// amazon-ec2-metadata-mock serves no /rsa2048, which is why this exists.
package imdsdoc

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/helper/pkcs7"
)

// Paths of the signed document, as an agent asks for them.
const (
	PathDocument  = "/latest/dynamic/instance-identity/document"
	PathSignature = "/latest/dynamic/instance-identity/signature"
	PathPKCS7     = "/latest/dynamic/instance-identity/pkcs7"
	PathRSA2048   = "/latest/dynamic/instance-identity/rsa2048"
	pathToken     = "/latest/api/token"
)

// Document is an instance identity document: the fields AWS serves that
// Vault reads (instanceId, imageId, accountId, region, pendingTime) and a
// few more for realism.
type Document struct {
	AccountID        string `json:"accountId"`
	Architecture     string `json:"architecture"`
	AvailabilityZone string `json:"availabilityZone"`
	ImageID          string `json:"imageId"`
	InstanceID       string `json:"instanceId"`
	InstanceType     string `json:"instanceType"`
	PendingTime      string `json:"pendingTime"`
	PrivateIP        string `json:"privateIp"`
	Region           string `json:"region"`
	Version          string `json:"version"`
}

// Signer is a test signing key and its self-signed certificate.
type Signer struct {
	Key  *rsa.PrivateKey
	Cert *x509.Certificate
}

// NewSigner makes an RSA-2048 key and a self-signed certificate for it,
// valid from an hour ago for a day.
func NewSigner(commonName string) (*Signer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: commonName, Organization: []string{"xauth-agent e2e"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Signer{Key: key, Cert: cert}, nil
}

// CertBase64 is the certificate as Vault's config/certificate takes it in
// aws_public_cert: base64 of the PEM.
func (s *Signer) CertBase64() string {
	p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Cert.Raw})
	return base64.StdEncoding.EncodeToString(p)
}

// Sign is the /signature of doc: RSA PKCS#1 v1.5 over its SHA-256.
func (s *Signer) Sign(doc []byte) ([]byte, error) {
	sum := sha256.Sum256(doc)
	return rsa.SignPKCS1v15(rand.Reader, s.Key, crypto.SHA256, sum[:])
}

// PKCS7 is the DER of a PKCS#7 SignedData that embeds doc, signed with
// RSA and SHA-256 (signed attributes), its signer named by the
// certificate's issuer and serial.
func (s *Signer) PKCS7(doc []byte) ([]byte, error) {
	sd, err := pkcs7.NewSignedData(doc)
	if err != nil {
		return nil, err
	}
	if err := sd.AddSigner(s.Cert, s.Key, pkcs7.SignerInfoConfig{}); err != nil {
		return nil, err
	}
	return sd.Finish()
}

// Server is a running IMDSv2 emulator.
type Server struct {
	URL string // http://127.0.0.1:port

	srv    *http.Server
	bodies map[string]string

	mu    sync.Mutex
	hits  map[string]int
	token string
}

// Start signs doc with s and serves it. Close stops the server.
func Start(doc Document, s *Signer) (*Server, error) {
	raw, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	sig, err := s.Sign(raw)
	if err != nil {
		return nil, err
	}
	p7a, err := s.PKCS7(raw)
	if err != nil {
		return nil, err
	}
	p7b, err := s.PKCS7(raw)
	if err != nil {
		return nil, err
	}
	tok := make([]byte, 24)
	if _, err := rand.Read(tok); err != nil {
		return nil, err
	}
	srv := &Server{
		bodies: map[string]string{
			PathDocument:  string(raw),
			PathSignature: lines(sig),
			PathPKCS7:     lines(p7a),
			PathRSA2048:   lines(p7b),
		},
		hits:  map[string]int{},
		token: base64.RawURLEncoding.EncodeToString(tok),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv.URL = "http://" + ln.Addr().String()
	srv.srv = &http.Server{Handler: http.HandlerFunc(srv.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.srv.Serve(ln) }()
	return srv, nil
}

// lines is base64 broken into 64-character lines, as IMDS serves it.
func lines(b []byte) string {
	s := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	for len(s) > 64 {
		out.WriteString(s[:64] + "\n")
		s = s[64:]
	}
	out.WriteString(s)
	return out.String()
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.hits[r.URL.Path]++
	s.mu.Unlock()
	if r.URL.Path == pathToken {
		if r.Method != http.MethodPut {
			http.Error(w, "", http.StatusMethodNotAllowed)
			return
		}
		ttl := r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds")
		if ttl == "" {
			http.Error(w, "", http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", ttl)
		_, _ = fmt.Fprint(w, s.token)
		return
	}
	if r.Method != http.MethodGet {
		http.Error(w, "", http.StatusMethodNotAllowed)
		return
	}
	// IMDSv2 only: no token, no answer.
	if r.Header.Get("X-Aws-Ec2-Metadata-Token") != s.token {
		http.Error(w, "", http.StatusUnauthorized)
		return
	}
	body, ok := s.bodies[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = fmt.Fprint(w, body)
}

// Hits is how many requests path has had.
func (s *Server) Hits(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

// Close stops the server.
func (s *Server) Close() error {
	if s.srv == nil {
		return errors.New("imdsdoc: not started")
	}
	return s.srv.Close()
}

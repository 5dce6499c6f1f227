package certfile

import (
	"crypto/x509"
	"time"
)

// Cert is one certificate found in a file.
type Cert struct {
	// File is where it was read; Where says where in the file ("block 2",
	// "users[kubernetes-admin].client-certificate-data"), "" for the only
	// block of a PEM file.
	File  string
	Where string
	// Subject and Issuer in RFC 2253 form; NotAfter the expiry.
	Subject  string
	Issuer   string
	NotAfter time.Time
	IsCA     bool
}

func certOf(file, where string, c *x509.Certificate) Cert {
	return Cert{File: file, Where: where, Subject: c.Subject.String(), Issuer: c.Issuer.String(), NotAfter: c.NotAfter, IsCA: c.IsCA}
}

// Name is the file and, where the file holds several, the place in it.
func (c Cert) Name() string {
	if c.Where == "" {
		return c.File
	}
	return c.File + " (" + c.Where + ")"
}

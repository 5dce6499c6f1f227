// Package certfile reads X.509 certificates out of the files a node keeps
// them in: PEM files (every CERTIFICATE block) and kubeconfigs (the
// certificates embedded base64 in client-certificate-data and
// certificate-authority-data, and the files client-certificate and
// certificate-authority name). Input is untrusted: sizes are capped, a bad
// block or field is an error naming the file and where in it, never a panic.
package certfile

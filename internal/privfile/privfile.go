// Package privfile finishes writing a file only its owner may read: the
// keyring keygen writes, the NATS reader identity, the outbox's state files.
// Each caller opens the file its own way (exclusive create, a temporary file
// to rename, truncate); the steps after that are the same and are here.
package privfile

import "os"

// Finish makes f mode 0600 whatever the umask, writes b, syncs it to disk
// and closes f. It returns the first error; f is closed in every case. The
// caller removes the file when Finish fails.
func Finish(f *os.File, b []byte) error {
	err := f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(b)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

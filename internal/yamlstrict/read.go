package yamlstrict

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// ReadFile reads path, at most o.MaxBytes of it: the one way the pipeline's
// callers read their files. A larger file is an ErrTooLarge naming the file
// and the limit; anything but a regular file (a FIFO, a device, a directory)
// is an ErrNotRegular, refused before it is read: a FIFO would block open(2)
// until a writer comes, a device may never end. Both are Errors. A file
// that cannot be opened or read is the os error, prefixed with o.Kind
// ("config: open /etc/kuma-agent/agent.yaml: no such file or directory"):
// errors.Is(err, fs.ErrNotExist) tells a missing file.
func (o Options) ReadFile(path string) ([]byte, error) {
	var (
		r   io.ReadCloser
		err error
	)
	if o.Open != nil {
		r, err = o.Open(path)
	} else {
		r, err = OpenRegular(path)
	}
	if err != nil {
		var located Errors
		if errors.As(err, &located) {
			return nil, err
		}
		return nil, fmt.Errorf("%s: %w", o.kind(), err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, o.maxBytes()+1))
	if err != nil {
		return nil, Errors{{File: path, Msg: "cannot read: " + cause(err), Err: err}}
	}
	if err := o.CheckSize(path, len(data)); err != nil {
		return nil, err
	}
	return data, nil
}

// CheckSize refuses n bytes of file name when they are over o.MaxBytes.
func (o Options) CheckSize(name string, n int) error {
	if max := o.maxBytes(); int64(n) > max {
		return Errors{{File: name, Err: ErrTooLarge,
			Msg: fmt.Sprintf("file is larger than %d bytes, the limit for %s files; is this the right file?", max, o.kind())}}
	}
	return nil
}

// OpenRegular opens path for reading if it is a regular file (ReadFile's
// open, and that of other readers of operator-named files such as
// hostsfile). The Stat before the open gives the clear refusal, an
// ErrNotRegular Errors; the open itself is non-blocking and checked again,
// so a FIFO swapped in between cannot hang it either. A Stat error is left
// to the open to report, in the usual "open PATH: ..." form.
func OpenRegular(path string) (*os.File, error) {
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, notRegular(path, fi.Mode())
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = notRegular(path, fi.Mode())
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func notRegular(path string, m fs.FileMode) error {
	what := "a special file"
	switch t := m.Type(); {
	case t&fs.ModeDir != 0:
		what = "a directory"
	case t&fs.ModeNamedPipe != 0:
		what = "a FIFO (named pipe)"
	case t&fs.ModeCharDevice != 0:
		what = "a character device"
	case t&fs.ModeDevice != 0:
		what = "a block device"
	case t&fs.ModeSocket != 0:
		what = "a socket"
	}
	return Errors{{File: path, Err: ErrNotRegular, Msg: "is " + what + ", not a regular file; name the file itself"}}
}

// cause is err without the "read PATH: " its *fs.PathError adds: the path
// is already the Error's File.
func cause(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

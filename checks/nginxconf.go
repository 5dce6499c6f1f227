package checks

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
)

// NginxDirective is one directive of an nginx configuration.
type NginxDirective struct {
	Name string
	Args []string
	// Block holds the directives inside { }; it is non-nil (maybe empty)
	// exactly when the directive has a block.
	Block []*NginxDirective
	// File and Line locate the directive's name, for messages.
	File string
	Line int
}

// Pos is "file:line".
func (d *NginxDirective) Pos() string { return fmt.Sprintf("%s:%d", d.File, d.Line) }

// Children returns the directives named name directly inside d's block.
func (d *NginxDirective) Children(name string) []*NginxDirective {
	return findDirectives(d.Block, name)
}

func findDirectives(ds []*NginxDirective, name string) []*NginxDirective {
	var out []*NginxDirective
	for _, c := range ds {
		if c.Name == name {
			out = append(out, c)
		}
	}
	return out
}

// Limits that keep a hostile or broken configuration from exhausting the
// agent: nginx itself would refuse such files long before.
const (
	maxNginxFileSize   = 4 << 20
	maxNginxFiles      = 512
	maxNginxInclude    = 16
	maxNginxBlockDepth = 64
)

// ParseNginxConfig reads an nginx configuration and every file it includes,
// inlining included directives where the include stood. Relative include
// patterns are resolved against the main file's directory, as nginx does for
// `nginx -c FILE`.
func ParseNginxConfig(path string) ([]*NginxDirective, error) {
	l := &nginxLoader{confDir: filepath.Dir(path)}
	return l.load(path, 0)
}

type nginxLoader struct {
	confDir string
	files   int
}

func (l *nginxLoader) load(path string, depth int) ([]*NginxDirective, error) {
	l.files++
	if l.files > maxNginxFiles {
		return nil, fmt.Errorf("%s: more than %d configuration files", path, maxNginxFiles)
	}
	data, err := readCapped(path, maxNginxFileSize)
	if err != nil {
		return nil, err
	}
	ds, err := parseNginx(data, path)
	if err != nil {
		return nil, err
	}
	return l.expand(ds, depth)
}

// expand replaces include directives, recursively, by what they include.
func (l *nginxLoader) expand(ds []*NginxDirective, depth int) ([]*NginxDirective, error) {
	var out []*NginxDirective
	for _, d := range ds {
		if d.Block != nil {
			inner, err := l.expand(d.Block, depth)
			if err != nil {
				return nil, err
			}
			if inner == nil {
				inner = []*NginxDirective{}
			}
			d.Block = inner
		}
		if d.Name != "include" {
			out = append(out, d)
			continue
		}
		if len(d.Args) != 1 || d.Block != nil {
			return nil, fmt.Errorf("%s: include takes exactly one file or pattern", d.Pos())
		}
		if depth+1 > maxNginxInclude {
			return nil, fmt.Errorf("%s: includes nested deeper than %d (an include cycle?)", d.Pos(), maxNginxInclude)
		}
		pattern := d.Args[0]
		if !filepath.IsAbs(pattern) {
			pattern = filepath.Join(l.confDir, pattern)
		}
		files := []string{pattern}
		if strings.ContainsAny(pattern, "*?[") {
			// A pattern matching nothing is fine for nginx too.
			var err error
			if files, err = filepath.Glob(pattern); err != nil {
				return nil, fmt.Errorf("%s: include %q: %w", d.Pos(), d.Args[0], err)
			}
		}
		for _, f := range files {
			inc, err := l.load(f, depth+1)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
					return nil, fmt.Errorf("%s: include %q: %w", d.Pos(), d.Args[0], err)
				}
				return nil, err
			}
			out = append(out, inc...)
		}
	}
	return out, nil
}

// nginxToken is one word or one of ; { } of the nginx syntax.
type nginxToken struct {
	text string
	line int
	// special is set for an unquoted ; { or }.
	special bool
}

// lexNginx splits nginx configuration text into tokens, following
// ngx_conf_read_token: # comments to the end of line, "..." and '...'
// quoting with backslash escapes, and ${var} braces kept inside a word.
func lexNginx(data []byte, file string) ([]nginxToken, error) {
	var toks []nginxToken
	line := 1
	i := 0
	for i < len(data) {
		c := data[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == '#':
			for i < len(data) && data[i] != '\n' {
				i++
			}
		case c == ';' || c == '{' || c == '}':
			toks = append(toks, nginxToken{text: string(c), line: line, special: true})
			i++
		case c == '"' || c == '\'':
			start := line
			var b strings.Builder
			i++
			closed := false
			for i < len(data) {
				ch := data[i]
				if ch == '\n' {
					line++
				}
				if ch == '\\' && i+1 < len(data) {
					b.WriteString(unescapeNginx(data[i+1]))
					if data[i+1] == '\n' {
						line++
					}
					i += 2
					continue
				}
				i++
				if ch == c {
					closed = true
					break
				}
				b.WriteByte(ch)
			}
			if !closed {
				return nil, fmt.Errorf("%s:%d: unterminated %c quote", file, start, c)
			}
			if i < len(data) && !isNginxSep(data[i]) {
				return nil, fmt.Errorf("%s:%d: unexpected %q after a quoted string", file, line, data[i])
			}
			toks = append(toks, nginxToken{text: b.String(), line: start})
		default:
			start := line
			var b strings.Builder
			inVar := false
			for i < len(data) {
				ch := data[i]
				if ch == '\\' && i+1 < len(data) {
					b.WriteString(unescapeNginx(data[i+1]))
					if data[i+1] == '\n' {
						line++
					}
					i += 2
					continue
				}
				if ch == '{' && i > 0 && data[i-1] == '$' {
					inVar = true
				} else if ch == '}' && inVar {
					inVar = false
				} else if isNginxSep(ch) {
					break
				}
				b.WriteByte(ch)
				i++
			}
			if inVar {
				return nil, fmt.Errorf("%s:%d: unterminated ${ in %q", file, start, b.String())
			}
			toks = append(toks, nginxToken{text: b.String(), line: start})
		}
	}
	return toks, nil
}

func isNginxSep(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', ';', '{', '}':
		return true
	}
	return false
}

func unescapeNginx(c byte) string {
	switch c {
	case 't':
		return "\t"
	case 'r':
		return "\r"
	case 'n':
		return "\n"
	case '"', '\'', '\\':
		return string(c)
	default:
		return "\\" + string(c)
	}
}

// parseNginx parses one file's text; includes are left as directives.
func parseNginx(data []byte, file string) ([]*NginxDirective, error) {
	toks, err := lexNginx(data, file)
	if err != nil {
		return nil, err
	}
	p := nginxParser{toks: toks, file: file}
	ds, err := p.block(0)
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		t := p.toks[p.pos]
		return nil, fmt.Errorf("%s:%d: unexpected %q", file, t.line, t.text)
	}
	return ds, nil
}

type nginxParser struct {
	toks []nginxToken
	pos  int
	file string
}

// block parses directives until a closing } (left unconsumed) or the end.
func (p *nginxParser) block(depth int) ([]*NginxDirective, error) {
	if depth > maxNginxBlockDepth {
		return nil, fmt.Errorf("%s:%d: blocks nested deeper than %d", p.file, p.toks[p.pos-1].line, maxNginxBlockDepth)
	}
	var out []*NginxDirective
	for p.pos < len(p.toks) {
		t := p.toks[p.pos]
		if t.special {
			if t.text == "}" {
				if depth == 0 {
					return nil, fmt.Errorf("%s:%d: unexpected \"}\"", p.file, t.line)
				}
				return out, nil
			}
			return nil, fmt.Errorf("%s:%d: unexpected %q", p.file, t.line, t.text)
		}
		d := &NginxDirective{Name: t.text, File: p.file, Line: t.line}
		p.pos++
		for {
			if p.pos >= len(p.toks) {
				return nil, fmt.Errorf("%s:%d: unexpected end of file, expecting \";\" or \"}\" after %q", p.file, t.line, d.Name)
			}
			a := p.toks[p.pos]
			p.pos++
			if !a.special {
				d.Args = append(d.Args, a.text)
				continue
			}
			if a.text == ";" {
				break
			}
			if a.text == "}" {
				return nil, fmt.Errorf("%s:%d: unexpected \"}\" after %q (missing \";\")", p.file, a.line, d.Name)
			}
			// "{": a block.
			inner, err := p.block(depth + 1)
			if err != nil {
				return nil, err
			}
			if p.pos >= len(p.toks) {
				return nil, fmt.Errorf("%s:%d: unexpected end of file, expecting \"}\" to close %q", p.file, a.line, d.Name)
			}
			p.pos++ // the closing }
			if inner == nil {
				inner = []*NginxDirective{}
			}
			d.Block = inner
			break
		}
		out = append(out, d)
	}
	return out, nil // at depth > 0 the caller reports the missing }
}

package statuspage

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"strings"
)

var (
	//go:embed page.html
	pageHTML string
	//go:embed style.css
	styleCSS string
)

// pageTemplate is page.html with the stylesheet in its one <style>
// element, as literal template text: the Content-Security-Policy allows
// exactly that stylesheet by its hash, and nothing else.
var pageTemplate = template.Must(template.New("page").Option("missingkey=error").
	Parse(strings.Replace(pageHTML, "{{.CSS}}", styleCSS, 1)))

// ContentSecurityPolicy forbids every script, every load from anywhere
// (no image, font, frame, connection) and every form; the one inline
// stylesheet is allowed by its hash, so even an injected style attribute
// or <style> element would not apply.
var ContentSecurityPolicy = "default-src 'none'; style-src '" + styleHash() + "'; img-src 'none'; script-src 'none'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func styleHash() string {
	sum := sha256.Sum256([]byte(styleCSS))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// Render writes the page. Nothing is written to w when rendering fails.
func Render(w io.Writer, p Page) error {
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, p); err != nil {
		return fmt.Errorf("status page: %w", err)
	}
	_, err := w.Write(b.Bytes())
	return err
}

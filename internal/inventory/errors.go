package inventory

import "github.com/kuma-agent/kuma-agent/internal/yamlstrict"

// ParseError locates a problem in an inventory file as precisely as the
// format allows, in the FILE:LINE: KEY: MSG form editors and CI logs link
// to; Key is the group, host or variable the problem is about. It is the
// strict-YAML pipeline's one error type, returned (as yamlstrict.Errors)
// for INI inventories too.
type ParseError = yamlstrict.Error

func errAt(file string, line int, key, format string, args ...any) error {
	return yamlstrict.Errorf(file, line, key, format, args...)
}

package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// decode fills out from YAML strictly: unknown fields, duplicate keys and values
// of the wrong type are errors that name the line and the field. It records the
// line of every field in lines, keyed by dotted path, for later validation errors.
func decode(file string, data []byte, out any, lines map[string]int) error {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return &Error{File: file, Msg: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return &Error{File: file, Msg: "is empty: it needs at least 'name'"}
	}
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		if errors.Is(err, io.EOF) {
			break
		}
		empty := len(next.Content) == 0 || (len(next.Content) == 1 && next.Content[0].Tag == "!!null" && next.Content[0].Value == "")
		if err != nil || !empty {
			return &Error{File: file, Line: next.Line, Msg: "holds more than one YAML document ('---'): plattr.yaml is one document"}
		}
	}
	d := decoder{file: file, lines: lines}
	return d.value(doc.Content[0], reflect.ValueOf(out).Elem(), "")
}

type decoder struct {
	file  string
	lines map[string]int
}

func (d *decoder) errorf(n *yaml.Node, field, format string, args ...any) error {
	return &Error{File: d.file, Line: n.Line, Field: field, Msg: fmt.Sprintf(format, args...)}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind == yaml.AliasNode {
		return d.errorf(n, path, "YAML aliases are not supported")
	}
	if path != "" {
		d.lines[path] = n.Line
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil // an empty value leaves the default
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Struct:
		return d.object(n, v, path)
	case reflect.Map:
		return d.mapping(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return d.errorf(n, path, "must be a list")
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			if err := d.value(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return d.errorf(n, path, "must be a single value, not a list or mapping")
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if err != nil || n.Tag != "!!bool" {
			if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
				return d.errorf(n, path, "must be true or false without quotes (a quoted value is a string), is %s", shown(n.Value))
			}
			return d.errorf(n, path, "must be true or false, is %s", shown(n.Value))
		}
		v.SetBool(b)
	case reflect.Int32:
		i, err := strconv.ParseInt(n.Value, 10, 32)
		if err != nil || n.Tag != "!!int" {
			return d.errorf(n, path, "must be a whole number in decimal, such as 8080, is %s", shown(n.Value))
		}
		if len(n.Value) > 1 && (n.Value[0] == '0' || (n.Value[0] == '-' || n.Value[0] == '+') && n.Value[1] == '0') {
			// YAML 1.1 readers take 010 as 8, YAML 1.2 readers as 10.
			return d.errorf(n, path, "must be written without leading zeros (010 is 8 to some YAML readers, 10 to others)")
		}
		v.SetInt(i)
	default:
		return d.errorf(n, path, "unsupported field type %s", v.Type()) // a bug in the schema
	}
	return nil
}

func (d *decoder) object(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind != yaml.MappingNode {
		return d.errorf(n, path, "must be a mapping of fields")
	}
	fields := map[string]int{}
	var allowed []string
	for i := 0; i < v.NumField(); i++ {
		tag := v.Type().Field(i).Tag.Get("yaml")
		if tag == "" {
			continue
		}
		fields[tag] = i
		allowed = append(allowed, tag)
	}
	sort.Strings(allowed)
	seen := map[string]bool{}
	for i := 0; i < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		idx, ok := fields[k.Value]
		where := join(path, k.Value)
		if !ok {
			return d.errorf(k, where, "unknown field (allowed here: %s)", strings.Join(allowed, ", "))
		}
		if seen[k.Value] {
			return d.errorf(k, where, "appears twice")
		}
		seen[k.Value] = true
		if err := d.value(val, v.Field(idx), where); err != nil {
			return err
		}
		d.lines[where] = k.Line
	}
	return nil
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind != yaml.MappingNode {
		return d.errorf(n, path, "must be a mapping")
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	for i := 0; i < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		where := join(path, k.Value)
		if k.Kind != yaml.ScalarNode {
			return d.errorf(k, path, "keys must be plain strings")
		}
		if m.MapIndex(reflect.ValueOf(k.Value)).IsValid() {
			return d.errorf(k, where, "appears twice")
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		if err := d.value(val, elem, where); err != nil {
			return err
		}
		d.lines[where] = k.Line
		m.SetMapIndex(reflect.ValueOf(k.Value), elem)
	}
	v.Set(m)
	return nil
}

// shown quotes a value for a message, cut to a length a message can carry.
func shown(v string) string {
	const max = 40
	if len(v) > max {
		return fmt.Sprintf("%q…", v[:max])
	}
	return fmt.Sprintf("%q", v)
}

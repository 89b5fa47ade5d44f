package decide

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Limits on the shape of an answers file, checked while it is read and before
// any field is looked at, so a file of junk is refused in one pass with one
// message instead of costing seconds and a megabyte of errors. A file within
// the answers limits (20 journeys of 30 interactions of 14 fields) stays well
// inside them.
const (
	maxDepth        = 12     // the deepest valid value is 6 levels down
	maxObjectFields = 32     // the largest object (an interaction) has 14 fields
	maxListItems    = 64     // the longest list (people) holds 30
	maxNodes        = 20_000 // a complete file of 600 interactions has ~18,000
)

// shapeError is the one problem that stops a file from being read.
func shapeError(path, format string, a ...any) *ValidationError {
	if path == "" {
		path = "(file)"
	}
	return &ValidationError{Fields: []FieldError{{Path: path, Msg: fmt.Sprintf(format, a...)}}}
}

// shape counts what a file holds while it is read.
type shape struct {
	nodes int
	data  []byte // for line numbers in JSON messages
}

func (s *shape) node(path string, depth int) *ValidationError {
	s.nodes++
	if s.nodes > maxNodes {
		return shapeError("", "has more than %d values; an answers file needs far fewer", maxNodes)
	}
	if depth > maxDepth {
		return shapeError(path, "is nested more than %d levels deep; an answers file needs at most 6", maxDepth)
	}
	return nil
}

func tooManyFields(path string) *ValidationError {
	return shapeError(path, "has more than %d fields; an object in an answers file has at most 14", maxObjectFields)
}

func tooManyItems(path string) *ValidationError {
	return shapeError(path, "has more than %d items; a list in an answers file has at most %d", maxListItems, max(MaxPeople, MaxInteractions, MaxJourneys))
}

// readJSONAnswers decodes one JSON object into the generic tree the decoder reads
// (map[string]any, []any, json.Number, string, bool, nil), refusing duplicate
// keys — which encoding/json would silently resolve to the last — and files
// beyond the shape limits.
func readJSONAnswers(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	s := &shape{data: data}
	v, err := s.jsonValue(dec, "", 1)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, shapeError("", "has data after the JSON object")
	}
	return v, nil
}

func notJSON(err error) *ValidationError {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = errors.New("unexpected end of JSON input")
	}
	return shapeError("", "is not valid JSON: %v", err)
}

func (s *shape) line(offset int64) int {
	return bytes.Count(s.data[:min(int(offset), len(s.data))], []byte("\n")) + 1
}

func (s *shape) jsonValue(dec *json.Decoder, path string, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, notJSON(err)
	}
	if ve := s.node(path, depth); ve != nil {
		return nil, ve
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			m := map[string]any{}
			lines := map[string]int{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, notJSON(err)
				}
				key, _ := kt.(string) // the decoder only hands out string keys
				line := s.line(dec.InputOffset())
				if first, dup := lines[key]; dup {
					return nil, shapeError(join(path, key), "is given twice (lines %d and %d); keep one", first, line)
				}
				if len(m) == maxObjectFields {
					return nil, tooManyFields(path)
				}
				lines[key] = line
				if m[key], err = s.jsonValue(dec, join(path, key), depth+1); err != nil {
					return nil, err
				}
			}
			if _, err := dec.Token(); err != nil {
				return nil, notJSON(err)
			}
			return m, nil
		case '[':
			var list []any
			for dec.More() {
				if len(list) == maxListItems {
					return nil, tooManyItems(path)
				}
				v, err := s.jsonValue(dec, fmt.Sprintf("%s[%d]", path, len(list)), depth+1)
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, notJSON(err)
			}
			if list == nil {
				list = []any{}
			}
			return list, nil
		}
		return nil, notJSON(fmt.Errorf("unexpected %v", t))
	}
	return tok, nil
}

// readYAMLAnswers parses YAML into a node tree first, which is cheap, checks its
// shape there (duplicate keys by path, size, depth, how far aliases expand),
// and only then decodes it into the generic tree.
func readYAMLAnswers(data []byte) (any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, shapeError("", "is not valid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if doc.Kind == 0 { // an empty document
		return nil, nil
	}
	s := &shape{}
	if ve := s.yamlNode(&doc, "", 0); ve != nil {
		return nil, ve
	}
	var raw any
	if err := doc.Decode(&raw); err != nil {
		return nil, shapeError("", "is not valid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return raw, nil
}

func (s *shape) yamlNode(n *yaml.Node, path string, depth int) *ValidationError {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if ve := s.yamlNode(c, path, depth+1); ve != nil {
				return ve
			}
		}
		return nil
	case yaml.AliasNode:
		// An alias stands for its anchor's whole value: count it again, so
		// a chain of aliases cannot expand beyond the limits.
		if n.Alias == nil {
			return nil
		}
		return s.yamlNode(n.Alias, path, depth)
	}
	if ve := s.node(path, depth); ve != nil {
		return ve
	}
	switch n.Kind {
	case yaml.MappingNode:
		if len(n.Content)/2 > maxObjectFields {
			return tooManyFields(path)
		}
		lines := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := k.Value
			if k.Kind == yaml.ScalarNode && key != "<<" {
				if first, dup := lines[key]; dup {
					return shapeError(join(path, key), "is given twice (lines %d and %d); keep one", first, k.Line)
				}
				lines[key] = k.Line
			}
			if ve := s.yamlNode(k, join(path, key), depth+1); ve != nil {
				return ve
			}
			if ve := s.yamlNode(v, join(path, key), depth+1); ve != nil {
				return ve
			}
		}
	case yaml.SequenceNode:
		if len(n.Content) > maxListItems {
			return tooManyItems(path)
		}
		for i, c := range n.Content {
			if ve := s.yamlNode(c, fmt.Sprintf("%s[%d]", path, i), depth+1); ve != nil {
				return ve
			}
		}
	}
	return nil
}

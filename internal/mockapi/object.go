package mockapi

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// object is a JSON object that keeps its keys in the order they were set, so
// the mock's wire output reads like the real APIs' ("type" first) and tool
// arguments follow the order of the tool's schema, as mockapi.py's dicts do.
type object []field

type field struct {
	key   string
	value any
}

// obj builds an object from alternating keys and values. A key that is not a
// string is a programming error and panics.
func obj(kv ...any) object {
	if len(kv)%2 != 0 {
		panic("mockapi: obj needs key, value pairs")
	}
	o := make(object, 0, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		o.set(kv[i].(string), kv[i+1])
	}
	return o
}

// set replaces the value of key, or appends key when it is new.
func (o *object) set(key string, value any) {
	for i := range *o {
		if (*o)[i].key == key {
			(*o)[i].value = value
			return
		}
	}
	*o = append(*o, field{key, value})
}

// get returns the value of key.
func (o object) get(key string) (any, bool) {
	for _, f := range o {
		if f.key == key {
			return f.value, true
		}
	}
	return nil, false
}

// with returns a copy of o with the given keys set, like Python's
// dict(o, key=value).
func (o object) with(kv ...any) object {
	c := append(object{}, o...)
	for _, f := range obj(kv...) {
		c.set(f.key, f.value)
	}
	return c
}

func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(f.key)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		v, err := marshal(f.value)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", f.key, err)
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// marshal is json.Marshal without HTML escaping: the payloads carry shell
// commands with '>' and '&', which read better unescaped.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// mustMarshal is marshal for values the mock builds itself, which always
// encode.
func mustMarshal(v any) []byte {
	b, err := marshal(v)
	if err != nil {
		panic(fmt.Sprintf("mockapi: encode %T: %v", v, err))
	}
	return b
}

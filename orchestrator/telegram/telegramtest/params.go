package telegramtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// maxBody bounds a request body; Telegram's own limit for JSON is far lower
// than a test ever needs.
const maxBody = 8 << 20

// params are the decoded parameters of one call, as Telegram reads them: from
// the query string, then a JSON or form body. Values keep the types
// encoding/json gives them (float64, string, bool, []any, map[string]any);
// form values are strings. Getters accept both, like Telegram does.
type params map[string]any

// upload is a file part of a multipart/form-data body.
type upload struct {
	name string // the part's file name
	data []byte
}

// errTooLarge is a body whose files exceed the server's upload limit.
var errTooLarge = errors.New("request entity too large")

// readParams decodes a request. Unknown parameters are kept and ignored. A
// multipart/form-data body's file parts come back as uploads, by field
// name; past maxUpload bytes of files the body is drained and errTooLarge
// returned, as the Bot API's front end answers 413 (draining lets the
// client read that answer instead of failing its write).
func readParams(r *http.Request, maxUpload int64) (params, map[string]upload, error) {
	p := params{}
	for k, v := range r.URL.Query() {
		p[k] = v[0]
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "multipart/form-data" {
		ups, err := readMultipart(r, p, maxUpload)
		return p, ups, err
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return p, nil, fmt.Errorf("read request body: %w", err)
	}
	if len(body) > maxBody {
		return p, nil, fmt.Errorf("request body is larger than %d bytes", maxBody)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return p, nil, nil
	}
	if ct == "application/x-www-form-urlencoded" {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return p, nil, fmt.Errorf("parse form body: %w", err)
		}
		for k, v := range form {
			p[k] = v[0]
		}
		return p, nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return p, nil, fmt.Errorf("parse JSON body: %w", err)
	}
	for k, v := range m {
		p[k] = v
	}
	return p, nil, nil
}

// readMultipart reads a multipart/form-data body: fields into p (as
// strings, like a form), file parts into the uploads.
func readMultipart(r *http.Request, p params, maxUpload int64) (map[string]upload, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, fmt.Errorf("parse multipart body: %w", err)
	}
	ups := map[string]upload{}
	var total int64
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return ups, nil
		}
		if err != nil {
			return nil, fmt.Errorf("parse multipart body: %w", err)
		}
		if part.FileName() == "" {
			v, err := io.ReadAll(io.LimitReader(part, maxBody+1))
			if err != nil || len(v) > maxBody {
				return nil, fmt.Errorf("read multipart field %q: too long or cut off", part.FormName())
			}
			p[part.FormName()] = string(v)
			continue
		}
		data, err := io.ReadAll(io.LimitReader(part, maxUpload-total+1))
		if err != nil {
			return nil, fmt.Errorf("read multipart file %q: %w", part.FormName(), err)
		}
		total += int64(len(data))
		if total > maxUpload {
			_, _ = io.Copy(io.Discard, r.Body)
			return nil, errTooLarge
		}
		ups[part.FormName()] = upload{name: part.FileName(), data: data}
	}
}

// int reads an integer given as a JSON number or a decimal string.
func (p params) int(key string) (v int64, present bool, err error) {
	raw, ok := p[key]
	if !ok || raw == nil {
		return 0, false, nil
	}
	switch x := raw.(type) {
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return 0, true, fmt.Errorf("%s is not an integer", key)
		}
		return int64(x), true, nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		if err != nil {
			return 0, true, fmt.Errorf("%s is not an integer", key)
		}
		return n, true, nil
	default:
		return 0, true, fmt.Errorf("%s is not an integer", key)
	}
}

// str reads a string; numbers and booleans are turned into their text.
func (p params) str(key string) (string, bool) {
	raw, ok := p[key]
	if !ok || raw == nil {
		return "", false
	}
	switch x := raw.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	default:
		b, _ := json.Marshal(x)
		return string(b), true
	}
}

// bool reads a flag given as a JSON boolean, a number or a string.
func (p params) bool(key string) bool {
	switch x := p[key].(type) {
	case bool:
		return x
	case float64:
		return x != 0
	case string:
		b, _ := strconv.ParseBool(x)
		return b
	default:
		return false
	}
}

// decode reads a JSON object or array parameter into dst. Form bodies carry
// such parameters as JSON text, which is accepted too.
func (p params) decode(key string, dst any) (present bool, err error) {
	raw, err := p.raw(key)
	if raw == nil || err != nil {
		return raw != nil, err
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return true, fmt.Errorf("decode %s: %w", key, err)
	}
	return true, nil
}

// raw returns a parameter as canonical JSON (object keys sorted), so two
// equal values compare equal byte for byte. Nil when absent.
func (p params) raw(key string) (json.RawMessage, error) {
	v, ok := p[key]
	if !ok || v == nil {
		return nil, nil
	}
	if s, isString := v.(string); isString {
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return nil, fmt.Errorf("decode %s: %w", key, err)
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", key, err)
	}
	return b, nil
}

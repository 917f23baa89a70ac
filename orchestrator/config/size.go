package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// sizeUnits maps a lowercased unit to its multiplier. All are powers of
// 1024, as memory limits are in practice: "1G", "1GB" and "1GiB" are the same.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
	"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
	"g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
	"t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40,
}

// ParseSize parses a size such as "512MiB", "2GiB", "1G", "500M", "1024K",
// "1.5GiB" or "1048576" (bytes). Units are case-insensitive and all binary:
// k, kb and KiB are 1024; m, mb and MiB are 1024²; likewise g and t.
// Fractions are rounded down to a whole byte.
func ParseSize(s string) (int64, error) {
	num := strings.TrimSpace(s)
	i := strings.IndexFunc(num, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	unit := ""
	if i >= 0 {
		num, unit = num[:i], strings.TrimSpace(num[i:])
	}
	mult, ok := sizeUnits[strings.ToLower(unit)]
	if num == "" || !ok {
		return 0, fmt.Errorf(`%q is not a size (write e.g. "512MiB", "2GiB" or a number of bytes)`, s)
	}
	if strings.Contains(num, ".") {
		f, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return 0, fmt.Errorf(`%q is not a size (write e.g. "512MiB", "2GiB" or a number of bytes)`, s)
		}
		v := f * float64(mult)
		if v >= math.MaxInt64 {
			return 0, fmt.Errorf("%q is too large", s)
		}
		return int64(v), nil
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

// FormatSize writes n bytes in the largest binary unit that divides it
// exactly, e.g. "2GiB", "1536MiB", "1000B".
func FormatSize(n int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// Package units formats quantities for people, in one way across the
// module.
package units

import (
	"fmt"
	"strings"
)

// Bytes formats n bytes in binary units, as limits are configured: "512 B",
// "4 KiB", "20 MiB", "1.5 GiB" (one decimal, none when whole).
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	names := []string{"KiB", "MiB", "GiB", "TiB"}
	v := float64(n) / unit
	i := 0
	for v >= unit && i < len(names)-1 {
		v /= unit
		i++
	}
	return strings.TrimSuffix(fmt.Sprintf("%.1f", v), ".0") + " " + names[i]
}

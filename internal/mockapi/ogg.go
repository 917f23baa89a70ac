package mockapi

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// OggInfo is what the mock learnt of an Ogg Opus stream (RFC 3533, RFC
// 7845), as Telegram sends voice notes.
type OggInfo struct {
	// Pages is how many pages the file holds.
	Pages int
	// Channels and PreSkip come from the OpusHead packet.
	Channels int
	PreSkip  int
	// Duration is the playback length: the last page's granule position
	// less the pre-skip, at 48 kHz.
	Duration time.Duration
}

const (
	oggHeaderLen = 27
	oggBOS       = 0x02 // header_type: first page of a logical stream
	opusRate     = 48000
)

// parseOggOpus checks that data is a whole Ogg stream whose first page
// begins an Opus stream: every page has the capture pattern, version 0, a
// segment table within the file and a correct CRC; the first page has the
// BOS flag and holds exactly one packet, an OpusHead of version 1.
func parseOggOpus(data []byte) (OggInfo, error) {
	var info OggInfo
	var serial uint32
	granule := int64(-1)
	for off := 0; off < len(data); {
		p, err := readOggPage(data[off:])
		if err != nil {
			return OggInfo{}, fmt.Errorf("ogg page %d at byte %d: %w", info.Pages+1, off, err)
		}
		if info.Pages == 0 {
			if err := readOpusHead(p, &info); err != nil {
				return OggInfo{}, err
			}
			serial = p.serial
		}
		// -1 marks a page on which no packet ends.
		if p.serial == serial && p.granule != -1 {
			granule = p.granule
		}
		info.Pages++
		off += p.size
	}
	if info.Pages == 0 {
		return OggInfo{}, errors.New("empty file")
	}
	if samples := granule - int64(info.PreSkip); granule >= 0 && samples > 0 {
		info.Duration = time.Duration(samples) * time.Second / opusRate
	}
	return info, nil
}

// oggPage is one decoded page.
type oggPage struct {
	flags   byte
	granule int64
	serial  uint32
	// lacing is the segment table; body follows it.
	lacing []byte
	body   []byte
	size   int // header, table and body
}

func readOggPage(b []byte) (oggPage, error) {
	if len(b) < oggHeaderLen {
		return oggPage{}, errors.New("truncated header")
	}
	if string(b[:4]) != "OggS" {
		return oggPage{}, errors.New(`no "OggS" capture pattern`)
	}
	if b[4] != 0 {
		return oggPage{}, fmt.Errorf("unknown version %d", b[4])
	}
	n := int(b[26])
	if len(b) < oggHeaderLen+n {
		return oggPage{}, errors.New("truncated segment table")
	}
	lacing := b[oggHeaderLen : oggHeaderLen+n]
	bodyLen := 0
	for _, l := range lacing {
		bodyLen += int(l)
	}
	size := oggHeaderLen + n + bodyLen
	if len(b) < size {
		return oggPage{}, errors.New("truncated body")
	}
	if got, want := oggCRC(b[:size]), binary.LittleEndian.Uint32(b[22:26]); got != want {
		return oggPage{}, fmt.Errorf("CRC %08x, header says %08x", got, want)
	}
	return oggPage{
		flags:   b[5],
		granule: int64(binary.LittleEndian.Uint64(b[6:14])),
		serial:  binary.LittleEndian.Uint32(b[14:18]),
		lacing:  lacing,
		body:    b[oggHeaderLen+n : size],
		size:    size,
	}, nil
}

// readOpusHead checks the first page: BOS, one whole packet, OpusHead.
func readOpusHead(p oggPage, info *OggInfo) error {
	if p.flags&oggBOS == 0 {
		return errors.New("the first ogg page does not begin a stream")
	}
	// One packet: every lacing value but the last is 255, and the last
	// (which ends the packet) is less.
	for i, l := range p.lacing {
		if (i < len(p.lacing)-1) != (l == 255) {
			return errors.New("the first ogg page must hold exactly one packet, the OpusHead")
		}
	}
	h := p.body
	if len(h) < 19 || !bytes.HasPrefix(h, []byte("OpusHead")) {
		return errors.New("the first ogg packet is not an OpusHead: not an Opus stream")
	}
	if v := h[8]; v>>4 != 0 { // RFC 7845: the major version (upper nibble) is 0
		return fmt.Errorf("unknown OpusHead version %d", v)
	}
	info.Channels = int(h[9])
	if info.Channels == 0 {
		return errors.New("OpusHead says 0 channels")
	}
	info.PreSkip = int(binary.LittleEndian.Uint16(h[10:12]))
	return nil
}

// oggCRCTable is Ogg's CRC-32: polynomial 0x04c11db7, not reflected,
// initial value 0, no final xor.
var oggCRCTable = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for range 8 {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return t
}()

// oggCRC is the checksum of a page, computed with its CRC field as zeros.
func oggCRC(page []byte) uint32 {
	var crc uint32
	for i, b := range page {
		if i >= 22 && i < 26 {
			b = 0
		}
		crc = crc<<8 ^ oggCRCTable[byte(crc>>24)^b]
	}
	return crc
}

package codec

import (
	"bytes"
	"testing"

	"pgregory.net/rapid"
)

// What deflate compresses, inflate gives back whole: a payload larger
// than the limit inflate keeps to is left uncompressed, and one within it
// that shrinks is compressed.
func TestDeflateKeepsWithinTheInflateLimit(t *testing.T) {
	var c compressor
	rapid.Check(t, func(t *rapid.T) {
		limit := rapid.IntRange(MinCompressSize, 4096).Draw(t, "limit")
		size := rapid.IntRange(0, 2*limit).Draw(t, "size")
		chunk := rapid.SliceOfN(rapid.Byte(), 1, 8).Draw(t, "chunk")
		data := bytes.Repeat(chunk, size/len(chunk)+1)[:size] // it shrinks
		z := c.deflateUpTo(data, limit)
		if z == nil {
			if size >= MinCompressSize && size <= limit {
				t.Fatalf("%d bytes that shrink, within the limit of %d, were not compressed", size, limit)
			}
			return
		}
		back, err := c.inflateUpTo(z, limit)
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("%d bytes compressed under the limit of %d, then inflated: %d bytes, %v; want them back", size, limit, len(back), err)
		}
	})
}

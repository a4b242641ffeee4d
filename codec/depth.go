package codec

import "bytes"

// maxJSONDepth is the deepest nesting of arrays and objects that
// encoding/json decodes: a document nested one level deeper fails to
// decode with "exceeded max depth".
const maxJSONDepth = 10000

// jsonDepth returns the deepest nesting of arrays and objects in data,
// JSON as encoding/json writes it: 0 for a scalar, 1 for [] or {"a":1}.
// Brackets and braces inside strings do not count.
func jsonDepth(data []byte) int {
	depth, deepest := 0, 0
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '"':
			i = stringEnd(data, i+1)
		case '[', '{':
			depth++
			deepest = max(deepest, depth)
		case ']', '}':
			depth--
		}
	}
	return deepest
}

// stringEnd returns the index of the quote that ends the JSON string
// whose content starts at data[from], or len(data) when none does.
func stringEnd(data []byte, from int) int {
	for i := from; ; {
		q := bytes.IndexByte(data[i:], '"')
		if q < 0 {
			return len(data)
		}
		i += q
		escapes := 0 // a quote after an odd number of backslashes is escaped
		for j := i - 1; j >= from && data[j] == '\\'; j-- {
			escapes++
		}
		if escapes%2 == 0 {
			return i
		}
		i++
	}
}

package codec_test

import (
	"context"
	"fmt"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/store/memory"
)

// NoteTaken is an event whose text should not be readable in the database.
type NoteTaken struct {
	Text string `json:"text"`
}

var notebook = decider.Decider[string, NoteTaken, []string]{
	Decide: func(text string, _ []string) ([]NoteTaken, error) { return []NoteTaken{{Text: text}}, nil },
	Evolve: func(notes []string, e NoteTaken) []string { return append(notes[:len(notes):len(notes)], e.Text) },
}

// Turning on encryption with a key from the environment. Generate a key
// with `openssl rand -base64 32` and give it an ID:
//
//	export ANNALS_CIPHER_KEY=k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
//
// A program reads it with codec.KeyringFromEnv(os.Getenv). Records written
// before encryption was turned on stay readable: each record's Encoding
// says what applies to it.
func ExampleKeyringFromEnv() {
	ctx := context.Background()
	getenv := func(name string) string { // os.Getenv in a real program
		return map[string]string{"ANNALS_CIPHER_KEY": "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}[name]
	}
	// docs:begin keyring
	keys, err := codec.KeyringFromEnv(getenv) // reads ANNALS_CIPHER_KEY and ANNALS_CIPHER_OLD_KEYS
	if err != nil {
		fmt.Println(err) // unset or malformed: stop, rather than write in clear
		return
	}
	// docs:end keyring
	jc := codec.NewJSON[NoteTaken]().Register("NoteTaken", NoteTaken{})
	s := annals.New(memory.New())

	// Before: plain JSON. After: compressed where it helps, then encrypted.
	if _, err := annals.NewRunner(s, notebook, jc).Handle(ctx, "notes", "written in clear"); err != nil {
		fmt.Println(err)
		return
	}
	// docs:begin encryption
	notes := annals.NewRunner(s, notebook, codec.NewMapper(jc, codec.WithCompression(), codec.WithEncryption(keys)))
	// docs:end encryption
	res, err := notes.Handle(ctx, "notes", "the safe's code is 1234")
	fmt.Println(res.State, err)

	for rec := range s.ReadStream(ctx, "notes", 0) {
		fmt.Printf("version %d: encoding %q, %d bytes\n", rec.Version, rec.Encoding, len(rec.Data))
	}
	// Output:
	// [written in clear the safe's code is 1234] <nil>
	// version 1: encoding "", 27 bytes
	// version 2: encoding "aes256gcm:k1", 62 bytes
}

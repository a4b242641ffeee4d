package codec_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/store/memory"
)

// PINChanged is an encrypted event.
type PINChanged struct {
	PIN string `json:"pin"`
}

var card = decider.Decider[string, PINChanged, string]{
	Decide: func(pin string, _ string) ([]PINChanged, error) { return []PINChanged{{PIN: pin}}, nil },
	Evolve: func(_ string, e PINChanged) string { return e.PIN },
}

// Rotating a key: the new key writes, the old one stays for reading. In
// the environment:
//
//	ANNALS_CIPHER_KEY=k2:<new key>  ANNALS_CIPHER_OLD_KEYS=k1:<old key>
//
// Every record names the key it was encrypted with. Keep an old key as
// long as records encrypted with it are read; a record whose key is gone
// fails with codec.ErrDecrypt, naming the key.
func ExampleNewKeyring_rotation() {
	ctx := context.Background()
	k1, err := codec.ParseKey("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
	if err != nil {
		fmt.Println(err)
		return
	}
	k2, err := codec.ParseKey("k2:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=")
	if err != nil {
		fmt.Println(err)
		return
	}
	jc := codec.NewJSON[PINChanged]().Register("PINChanged", PINChanged{})
	s := annals.New(memory.New())

	before, err := codec.NewKeyring(k1)
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := annals.NewRunner(s, card, codec.NewMapper(jc, codec.WithEncryption(before))).Handle(ctx, "card-1", "1111"); err != nil {
		fmt.Println(err)
		return
	}

	after, err := codec.NewKeyring(k2, k1) // k2 writes; k1 still reads
	if err != nil {
		fmt.Println(err)
		return
	}
	cards := annals.NewRunner(s, card, codec.NewMapper(jc, codec.WithEncryption(after)))
	res, err := cards.Handle(ctx, "card-1", "2222")
	fmt.Println(res.State, res.Version, err)
	for rec := range s.ReadStream(ctx, "card-1", 0) {
		fmt.Printf("version %d: %s\n", rec.Version, rec.Encoding)
	}

	retired, err := codec.NewKeyring(k2) // k1 dropped too early
	if err != nil {
		fmt.Println(err)
		return
	}
	_, _, err = annals.NewRunner(s, card, codec.NewMapper(jc, codec.WithEncryption(retired))).Load(ctx, "card-1")
	fmt.Println(errors.Is(err, codec.ErrDecrypt))
	// Output:
	// 2222 2 <nil>
	// version 1: aes256gcm:k1
	// version 2: aes256gcm:k2
	// true
}

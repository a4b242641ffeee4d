package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/internal/pgtest"
)

var stores = map[string]func(t *testing.T) string{
	"sqlite": func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "username.db") },
	"postgres": func(t *testing.T) string {
		db := pgtest.New(t)
		return db.URL + "&schema=" + db.Schema
	},
}

func open(t *testing.T, url string) *annals.Store {
	t.Helper()
	s, err := annals.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// 32 accounts open at once under one username, 20 times over, half of
// them through a second store handle, as another process would (the
// decisions of one handle take turns, and those of two conflict): one
// gets it, and every other is told it is taken.
func TestRaceForAUsername(t *testing.T) {
	for name, url := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			u := url(t)
			accounts, other := Accounts(open(t, u)), Accounts(open(t, u))
			for round := range 20 {
				username := fmt.Sprint("ada", round)
				errs := make([]error, 32)
				var wg sync.WaitGroup
				for i := range errs {
					wg.Go(func() {
						runner := accounts
						if i%2 == 1 {
							runner = other
						}
						_, errs[i] = runner.Handle(ctx, OpenAccount{Account: fmt.Sprintf("a-%d-%d", round, i), Username: username})
					})
				}
				wg.Wait()
				won := 0
				for i, err := range errs {
					switch {
					case err == nil:
						won++
					case !errors.Is(err, ErrUsernameTaken):
						t.Fatalf("round %d: account %d was told %v, want the username or taken", round, i, err)
					}
				}
				claims, _, err := accounts.Load(ctx, OpenAccount{Username: username})
				if err != nil {
					t.Fatal(err)
				}
				if won != 1 || claims.Holders[username] == "" {
					t.Fatalf("round %d: %d accounts got %q, held by %q", round, won, username, claims.Holders[username])
				}
			}
		})
	}
}

// Accounts trade names at once, and others try to take the names they
// give up: a name is never held twice, and every account keeps a name.
func TestRaceToSwapUsernames(t *testing.T) {
	for name, url := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			accounts := Accounts(open(t, url(t)))
			for round := range 20 {
				names := []string{fmt.Sprint("xavier", round), fmt.Sprint("yann", round), fmt.Sprint("zoe", round)}
				for i, n := range names[:2] {
					if _, err := accounts.Handle(ctx, OpenAccount{Account: fmt.Sprintf("s-%d-%d", round, i), Username: n}); err != nil {
						t.Fatal(err)
					}
				}
				var wg sync.WaitGroup
				for i := range 8 {
					wg.Go(func() {
						_, err := accounts.Handle(ctx, ChangeUsername{Account: fmt.Sprintf("s-%d-%d", round, i%2), Username: names[(i+1)%3]})
						if err != nil && !errors.Is(err, annals.ErrRejected) {
							t.Errorf("round %d: %v", round, err)
						}
					})
					wg.Go(func() {
						_, err := accounts.Handle(ctx, OpenAccount{Account: fmt.Sprintf("n-%d-%d", round, i), Username: names[i%3]})
						if err != nil && !errors.Is(err, annals.ErrRejected) {
							t.Errorf("round %d: %v", round, err)
						}
					})
				}
				wg.Wait()
				held := map[string]string{}
				for _, n := range names {
					claims, _, err := accounts.Load(ctx, OpenAccount{Username: n})
					if err != nil {
						t.Fatal(err)
					}
					if h := claims.Holders[n]; h != "" {
						if other, dup := held[h]; dup {
							t.Fatalf("round %d: %s holds %q and %q", round, h, other, n)
						}
						held[h] = n
					}
				}
				for i := range 2 {
					account := fmt.Sprintf("s-%d-%d", round, i)
					claims, _, err := accounts.Load(ctx, OpenAccount{Account: account, Username: names[0]})
					if err != nil {
						t.Fatal(err)
					}
					if n := claims.Usernames[account]; n == "" || held[account] != n {
						t.Fatalf("round %d: %s's events say it holds %q, the names' events say %q", round, account, n, held[account])
					}
				}
			}
		})
	}
}

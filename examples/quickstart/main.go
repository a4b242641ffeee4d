package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/annals-dev/annals"
	"github.com/annals-dev/annals/codec"
	"github.com/annals-dev/annals/decider"
	"github.com/annals-dev/annals/store/memory"
)

type Deposit struct{ Amount int }   // the command
type Deposited struct{ Amount int } // the event

var account = decider.Decider[Deposit, Deposited, int]{
	Decide: func(c Deposit, balance int) ([]Deposited, error) {
		if c.Amount <= 0 {
			return nil, errors.New("amount must be positive") // stores nothing
		}
		return []Deposited{{Amount: c.Amount}}, nil
	},
	Evolve: func(balance int, e Deposited) int { return balance + e.Amount },
}

func main() {
	ctx := context.Background()
	s := annals.New(memory.New()) // in production: annals.Open(ctx, os.Getenv(annals.EnvVar))
	events := codec.NewJSON[Deposited]().Register("Deposited", Deposited{})
	accounts := annals.NewRunner(s, account, events)

	accounts.Handle(ctx, "account-1", Deposit{Amount: 30})
	res, _ := accounts.Handle(ctx, "account-1", Deposit{Amount: 12})
	fmt.Println(res.State, res.Version) // 42 2
}

// Command username keeps usernames unique with a dynamic consistency
// boundary (DCB, docs/dcb.md): no two accounts hold a username at a time,
// "Ada" and "ada" are one, and a username given up is free again.
//
// # Why not streams
//
// The rule is about a username, not an account. A stream per account
// cannot see the other accounts; a stream per username would need an
// account's change of name to move between two streams, atomically; and
// the usual way out, a reservation table beside the events, is a second
// source of truth. Here there are no streams to choose: a claim is decided
// by an [annals.DCBRunner] on the events that name the username (tag
// username:…) OR that are the account's (tag account:…), and appended on
// the condition that no such event came after the last one read. Two
// claims of one username are ordered, and the second sees the first;
// claims of different usernames by different accounts share no tag and
// run in parallel. An event that moves an account from one name to
// another carries both names' tags, so it is in the boundary of both.
//
// # Running it
//
//	go run ./examples/username
//
// opens the store that ANNALS_STORE names (by default the SQLite file
// annals-username.db in the temporary directory). On a new store it
// prints:
//
//	main.OpenAccount{Account:"a1", Username:"ada"}: a1 holds "ada"
//	main.OpenAccount{Account:"a2", Username:"Ada"}: refused, "ada": username taken
//	main.OpenAccount{Account:"a2", Username:"bob"}: a2 holds "bob"
//	main.ChangeUsername{Account:"a1", Username:"bob"}: refused, "bob": username taken
//	main.ChangeUsername{Account:"a1", Username:"lovelace"}: a1 holds "lovelace"
//	main.OpenAccount{Account:"a3", Username:"ada"}: a3 holds "ada"
//	main.OpenAccount{Account:"a4", Username:"x"}: refused, "x": a username is 3 to 20 lowercase letters, digits, '.' or '_'
//
// On a store that holds events, the names get a suffix of the run's own.
//
// # Tests
//
// The rules are given/when/then specifications (proptest.For). The races
// run on SQLite and PostgreSQL, 20 times over: 32 accounts open at once
// under one username, and exactly one gets it while every other is told
// it is taken; and accounts swap names at once, never leaving a name held
// twice.
package main

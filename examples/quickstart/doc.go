// Command quickstart is the quick start of the README, word for word: its
// test fails when the two drift apart or when it stops printing what the
// README says.
package main

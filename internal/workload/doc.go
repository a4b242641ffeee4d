// Package workload holds what the benchmarks of every adapter share, so
// that the library side of each workload is written once and runs on the
// memory, SQLite and PostgreSQL stores alike:
//
//   - a small bank-account domain: commands, events, a state, its decider
//     and codecs, and the hand-written JSON encoding and decoding that the
//     raw baselines use instead of the codec;
//   - the sizes of the workloads, which the environment variable
//     ANNALS_BENCH_SCALE multiplies (0.01 for a smoke run), so that CI can
//     run every benchmark once in seconds;
//   - the library side of each workload on any [store.Store].
//
// The raw baselines are written in each adapter's package with its driver
// alone. Benchmarks follow the convention that internal/benchtable reads:
// each workload is a benchmark path Workload/store/params/variant, whose
// variant "lib" is the library and every other variant a baseline, and
// each reports how many events one operation handles as "events/op".
//
// See docs/benchmarks.md for the workloads, their results and the targets.
package workload

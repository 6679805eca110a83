// Package crashtest runs a piece of a test in a child process and kills it
// with SIGKILL at a random moment, so that crash tests of write paths (WAL,
// block writer, sharded engine) can check what survives a process crash.
//
// The child is the test binary itself, re-executed with -test.run selecting
// the calling test and an environment variable naming the child role. The
// calling test therefore has two branches:
//
//   - child branch: at the top of the test, [ChildDir] reports whether this
//     process is a child for the given role and returns the work directory.
//     The child calls [Ready] once its set-up is done (the kill delay starts
//     there), then works until it is killed, and finally returns.
//   - parent branch: the test calls [Run] once per round with a seeded
//     random kill delay, then inspects the work directory.
//
// What a crash test can and cannot show: SIGKILL loses everything the
// process had not yet handed to the kernel, but nothing already written with
// write(2) — it models a process crash, not a power loss. Power-loss
// behaviour needs a fault-injecting file system instead.
//
// Concurrency: Run is safe to call from one goroutine at a time per test;
// it waits for the child before returning, so no process outlives a round.
// The package has no mutable package-level state.
package crashtest

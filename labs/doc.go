// Package labs is the signup system the learner experiments on: a signup API
// that either waits for the email and analytics services (sync) or records a
// user.signedup fact and lets consumer groups do the rest (async), with
// faults a learner can inject while it runs.
//
// It exists so that the difference between waiting and handing off can be
// measured rather than described, and so that what the lessons promise of
// the asynchronous side — emails arrive late, never twice, never lost — is
// kept under the faults that threaten it. Its API speaks plain Go and
// net/http; the server and the command line drive it.
//
// The parts, each in its own package:
//
//	labs/stream   every Redis command and key of a sandbox: the outbox, the
//	              consumer-group protocol (claims, leases, backoff, budget),
//	              dead letters, effect ledgers and each run's audit
//	labs/service  the simulated email and analytics services, their faults,
//	              and the client that calls them and classifies failures
//	labs/load     the load generator and its latency histogram
//
// This package composes them. A Sandbox (New) is one copy of the system on
// one Redis: Apply or Update change its Settings live, Run sends a bounded
// LoadSpec and returns a Result of that run alone, Snapshot reads its state
// cheaply enough to poll, Trace follows one signup, DeadLetters and Replay
// manage what the consumers gave up on, and Close stops every goroutine it
// started. signup.go holds the two handlers the lessons show (signupSync,
// signupAsync); consumer.go and group.go the consumers, their retries and
// the pause of a group whose service keeps failing; run.go a run and its
// figures. A Manager keeps one Lab (a sandbox with guided scenarios) per
// learner for the web server.
package labs

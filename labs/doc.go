// Package labs is the signup system the learner experiments on: a signup API,
// email and analytics services with injectable faults, a synchronous client
// with timeouts and a circuit breaker, and a Redis Streams pipeline with
// consumer groups, retries and dead letters.
//
// It exists so that the difference between waiting and handing off can be
// measured rather than described. Its API speaks plain Go and net/http; the
// server and the command line drive it.
//
// A Sandbox (New) is one copy of the system on one Redis, under the keys
// cr:{id}:...: Apply or Update change its Settings live, Run sends a bounded
// LoadSpec and returns a Result, Snapshot reads its state cheaply enough to
// poll, Trace follows one signup, DeadLetters and Replay manage what the
// consumers gave up on, and Close stops every goroutine it started.
//
// Where things are: signup.go holds the two handlers the lessons show
// (signupSync, signupAsync); streams.go holds every Redis command; consumer.go
// the consumer groups; service.go the simulated services; client.go the
// downstream calls; load.go and run.go the load generator and its results.
package labs

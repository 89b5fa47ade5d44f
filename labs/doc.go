// Package labs is the signup system the learner experiments on: a signup API,
// email and analytics services with injectable faults, a synchronous client
// with timeouts and a circuit breaker, and a Redis Streams pipeline with
// consumer groups, retries and dead letters.
//
// It exists so that the difference between waiting and handing off can be
// measured rather than described. Its API speaks plain Go and net/http; the
// server and the command line drive it.
package labs

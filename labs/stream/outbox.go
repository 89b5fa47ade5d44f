package stream

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// outbox sends concurrent signups together: while one batch is on its way
// to Redis, the signups that arrive queue up, and the next batch goes as one
// call of the outbox script — one round trip and one script run for all of
// them instead of one each. The script writes each signup whole (it runs
// alone in Redis, and one signup's failure is that signup's answer only), so
// every signup keeps its own atomic user-and-event write and its own answer;
// only the trip and the script's start are shared. A lone signup goes at once: batching adds no wait,
// it only gathers the signups that would otherwise queue for a connection.
//
// There is no background goroutine: the caller that finds no batch in
// flight leads, sends what is queued, and hands the lead to the first caller
// still waiting, so no caller serves others' signups for longer than its own
// batch (a closed-loop load would otherwise keep one leader busy forever).
type outbox struct {
	mu      sync.Mutex
	queue   []*outboxCall
	leading bool
}

type outboxCall struct {
	ctx  context.Context
	keys []string
	args []any
	res  []string
	err  error
	done chan struct{} // closed when res and err are set
	lead chan struct{} // signalled when this caller is to send the next batch
	led  bool          // lead was handed to it (under outbox.mu)
}

// maxOutboxBatch bounds one pipeline, so a burst never builds one huge
// request that holds Redis (which runs one command at a time).
const maxOutboxBatch = 128

// run runs createScript with keys and args as part of the next batch.
func (o *outbox) run(ctx context.Context, c redis.UniversalClient, keys []string, args []any) ([]string, error) {
	call := &outboxCall{ctx: ctx, keys: keys, args: args, done: make(chan struct{}), lead: make(chan struct{}, 1)}
	o.mu.Lock()
	o.queue = append(o.queue, call)
	if !o.leading {
		o.leading = true
		call.led = true
		o.mu.Unlock()
		o.send(c)
		<-call.done
		return call.res, call.err
	}
	o.mu.Unlock()
	select {
	case <-call.done:
		return call.res, call.err
	case <-call.lead:
		o.send(c)
		<-call.done
		return call.res, call.err
	case <-ctx.Done():
	}
	o.mu.Lock()
	if call.led { // the lead came meanwhile: the others wait on it
		o.mu.Unlock()
		<-call.lead
		o.send(c)
		<-call.done
		return call.res, call.err
	}
	if i := slices.Index(o.queue, call); i >= 0 { // not sent: withdraw it
		o.queue = slices.Delete(o.queue, i, i+1)
		o.mu.Unlock()
		return nil, ctx.Err()
	}
	o.mu.Unlock()
	<-call.done // already on its way: its answer is the truth
	return call.res, call.err
}

// send sends one batch of what is queued, then hands the lead on.
func (o *outbox) send(c redis.UniversalClient) {
	o.mu.Lock()
	n := min(len(o.queue), maxOutboxBatch)
	batch := slices.Clone(o.queue[:n])
	o.queue = slices.Delete(o.queue, 0, n)
	o.mu.Unlock()
	flush(c, batch)
	o.mu.Lock()
	if len(o.queue) > 0 {
		next := o.queue[0]
		next.led = true
		next.lead <- struct{}{}
	} else {
		o.leading = false
	}
	o.mu.Unlock()
}

// flush runs a batch's signups in one call of the script, which answers for
// each. Its context ends with the last of the callers' deadlines (none if a
// caller has none): one caller that gives up must not fail the others'
// signups.
func flush(c redis.UniversalClient, batch []*outboxCall) {
	if len(batch) == 0 {
		return
	}
	defer func() {
		for _, call := range batch {
			close(call.done)
		}
	}()
	ctx, cancel := batchContext(batch)
	defer cancel()
	keys := make([]string, 0, createKeys*len(batch))
	args := make([]any, 0, createArgs*len(batch))
	for _, call := range batch {
		keys = append(keys, call.keys...)
		args = append(args, call.args...)
	}
	// Run sends EVALSHA and, when Redis has lost its script cache (after a
	// restart), loads the script: NOSCRIPT means nothing ran.
	res, err := createScript.Run(ctx, c, keys, args...).StringSlice()
	if err == nil && len(res) != 2*len(batch) {
		err = fmt.Errorf("outbox script: %d answers for %d signups", len(res), len(batch))
	}
	for i, call := range batch {
		switch {
		case err != nil:
			call.err = err
		case res[2*i] == "error":
			call.err = fmt.Errorf("outbox script: %s", res[2*i+1])
		default:
			call.res = res[2*i : 2*i+2]
		}
	}
}

func batchContext(batch []*outboxCall) (context.Context, context.CancelFunc) {
	var last time.Time
	for _, call := range batch {
		d, ok := call.ctx.Deadline()
		if !ok {
			return context.WithoutCancel(batch[0].ctx), func() {}
		}
		if d.After(last) {
			last = d
		}
	}
	return context.WithDeadline(context.WithoutCancel(batch[0].ctx), last)
}

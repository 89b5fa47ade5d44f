package stream

// Every key of a sandbox is named here, as asynq's internal/base names its
// keys, so the whole layout can be read in one place. They share the hash tag
// {sandbox}: a sandbox lives on one slot of a Redis Cluster, and many
// sandboxes can share one server.
//
//	cr:{sb}:events              stream of user.signedup facts (fields type, payload, run, and
//	                            only on a replay meant for one group), read by the consumer groups
//	cr:{sb}:dead                dead-letter stream: group, reason, deliveries, original payload
//	cr:{sb}:users               hash user id -> user record (JSON)
//	cr:{sb}:entries             hash event id -> its entry id on the events stream
//	cr:{sb}:emails              hash address -> user id owning it (uniqueness)
//	cr:{sb}:idem:<key>          user id created under a signup Idempotency-Key (expires)
//	cr:{sb}:run:<run>:users     hash user id -> "<mode> <event id>": the users one run created
//	cr:{sb}:run:<run>:failed    set of users stored although their signup reported failure
//	cr:{sb}:run:<run>:published set of event ids of that run that reached the stream
//	cr:{sb}:run:<run>:poison    set of poison entry ids that run added
//	cr:{sb}:done:<group>        set of event ids a group finished (its idempotency record)
//	cr:{sb}:deadids:<group>     hash event id (or "entry:<id>" for poison) -> dead-lettered entry id
//	cr:{sb}:due:<group>         sorted set entry id -> when its backoff ends (unix ms)
//	cr:{sb}:failing:<group>     hash entry id -> when it first failed (unix ms), for the retry age
//	cr:{sb}:started:<group>     hash entry id -> consumer that began calling the service with it
//	cr:{sb}:crashes:<group>     hash entry id -> how often it was taken from a consumer that crashed on it
//	cr:{sb}:deadcodes           hash "<group>:<code>" -> dead letters of that kind (poison, rejected, ...)
//	cr:{sb}:ledger:<service>    hash idempotency key -> user id: effects applied once per key
//	cr:{sb}:repeats:<service>   hash user id -> effects applied without a key
//	cr:{sb}:lab                 hash of what a lab keeps beside its data (settings, run history,
//	                            scenario answers: JSON), so another app instance can take it over
//	cr:{sb}:lease               the app instance that runs the sandbox's consumers (expires)
//
// Every key has a lifetime. The per-run keys expire an hour after their last
// write: a run's figures are read when it ends, and nothing else needs them.
// An idempotency key expires after IdempotencyTTL. The others (Long lists
// them) are the sandbox's state and live as long as it does: a live sandbox
// renews their TTL (Keep), so they expire only after every process that
// looked after the sandbox is gone without deleting them. Addresses are one
// hash rather than a key each, so their lifetime is the users'. What they
// hold is bounded by the sandbox's storage budget (see Usage).

import "strings"

func prefix(sb string) string { return "cr:{" + sb + "}:" }

// Pattern matches every key of a sandbox (for SCAN).
func Pattern(sb string) string { return prefix(sb) + "*" }

// SandboxOf is the sandbox a key of the form cr:{sb}:... belongs to.
func SandboxOf(key string) string {
	_, rest, _ := strings.Cut(key, "{")
	sb, _, _ := strings.Cut(rest, "}")
	return sb
}

// EventsKey is the stream every user.signedup fact is appended to.
func EventsKey(sb string) string { return prefix(sb) + "events" }

// DeadKey is the dead-letter stream.
func DeadKey(sb string) string { return prefix(sb) + "dead" }

// UsersKey holds the user records.
func UsersKey(sb string) string { return prefix(sb) + "users" }

// EntriesKey says where each event went on the stream.
func EntriesKey(sb string) string { return prefix(sb) + "entries" }

// EmailsKey makes addresses unique.
func EmailsKey(sb string) string { return prefix(sb) + "emails" }

// IdemKey remembers a signup's Idempotency-Key.
func IdemKey(sb, key string) string { return prefix(sb) + "idem:" + key }

// RunUsersKey lists the users a run created.
func RunUsersKey(sb, run string) string { return prefix(sb) + "run:" + run + ":users" }

// RunFailedKey lists a run's users whose signup reported failure.
func RunFailedKey(sb, run string) string { return prefix(sb) + "run:" + run + ":failed" }

// RunPublishedKey lists the event ids of a run that reached the stream.
func RunPublishedKey(sb, run string) string { return prefix(sb) + "run:" + run + ":published" }

// RunPoisonKey lists the poison entries a run added.
func RunPoisonKey(sb, run string) string { return prefix(sb) + "run:" + run + ":poison" }

// DoneKey is a group's record of finished events.
func DoneKey(sb, group string) string { return prefix(sb) + "done:" + group }

// DeadIDsKey maps a group's dead-lettered events to their entries.
func DeadIDsKey(sb, group string) string { return prefix(sb) + "deadids:" + group }

// DueKey holds a group's entries waiting out a backoff.
func DueKey(sb, group string) string { return prefix(sb) + "due:" + group }

// FailingKey remembers when each of a group's entries first failed.
func FailingKey(sb, group string) string { return prefix(sb) + "failing:" + group }

// StartedKey marks entries whose consumer began calling the service.
func StartedKey(sb, group string) string { return prefix(sb) + "started:" + group }

// CrashesKey counts the consumers each entry took down.
func CrashesKey(sb, group string) string { return prefix(sb) + "crashes:" + group }

// DeadCodesKey counts the dead letters by group and kind.
func DeadCodesKey(sb string) string { return prefix(sb) + "deadcodes" }

// LedgerKey records a service's effects by idempotency key.
func LedgerKey(sb, service string) string { return prefix(sb) + "ledger:" + service }

// RepeatsKey counts a service's effects applied without a key, per user.
func RepeatsKey(sb, service string) string { return prefix(sb) + "repeats:" + service }

// LabKey holds the lab's state beside its data (see labs.savedState).
func LabKey(sb string) string { return prefix(sb) + "lab" }

// LeaseKey names the app instance that looks after the sandbox now.
func LeaseKey(sb string) string { return prefix(sb) + "lease" }

// Long lists the keys that live as long as the sandbox, for groups and
// services: every key but the per-run and idempotency keys, which expire by
// themselves.
func Long(sb string, groups, services []string) []string {
	keys := []string{EventsKey(sb), DeadKey(sb), UsersKey(sb), EmailsKey(sb), EntriesKey(sb), DeadCodesKey(sb), LabKey(sb)}
	for _, g := range groups {
		keys = append(keys, DoneKey(sb, g), DeadIDsKey(sb, g), DueKey(sb, g), FailingKey(sb, g), StartedKey(sb, g), CrashesKey(sb, g))
	}
	for _, svc := range services {
		keys = append(keys, LedgerKey(sb, svc), RepeatsKey(sb, svc))
	}
	return keys
}

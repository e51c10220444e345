// Package alertrouter is vigie_router: it probes the exporter's discovered
// targets on a schedule, turns results into UP/DOWN states with retry
// counts, and delivers notifications durably to Telegram, e-mail, SMS and
// webhooks. Its subpackages: engine (checks, scheduling, state machine),
// store (embedded persistent store), dispatch (outbox, grouping, rate
// limits, retries), notify/* (one package per integration), api
// (Alertmanager-compatible ingest and silences) and web (status page).
package alertrouter

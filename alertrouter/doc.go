// Package alertrouter is vigie_router: it probes the exporter's discovered
// targets on a schedule, turns results into UP/DOWN states with retry
// counts, and delivers notifications durably to Telegram, e-mail, SMS and
// webhooks. It wires the pipeline below, dispatch, silences, the
// Alertmanager API (api) and the status page (web).
//
// # The pipeline
//
// Data flows one way, through stages that each own their state and are
// tested alone; package pipeline is the coordinator that owns the turn:
//
//	 exporter /sd                      exporter /probe
//	      │ []TargetGroup                  ▲ │ exporter.Result
//	      ▼                                │ ▼
//	┌───────────┐  Update{Added,    ┌───────────┐ Done{ID, Result}
//	│ targets   │  Relabeled,       │ scheduler │───────────┐
//	│ (source,  │  Removed}         │ (heap,    │           │
//	│ guard,    │──────────────────▶│ workers,  │◀─ next run│(pending?)
//	│ fetcher)  │                   │ owner)    │           │
//	└─────┬─────┘                   └─────┬─────┘           ▼
//	      │ /sd errors    probe errors    │          ┌────────────┐
//	      └──────────────────────────┐    │          │ checkstate │
//	                                ┌▼────▼─────┐    │ (machine,  │
//	                                │  health   │    │  flapping) │
//	                                └─────┬─────┘    └─────┬──────┘
//	POST /api/v2/alerts                   │ Down/Up        │ Change{Before,
//	      │ []notify.Alert                ▼                │ Transition, Flap}
//	┌───────────┐ Firing/Resolved   ┌──────────────────────▼──┐   mute.Muter
//	│  alerts   │──────────────────▶│        incident         │◀── (silences)
//	│ (ingest,  │                   │ (rules, holds, catch-up,│
//	│  expiry)  │                   │  reminders, own alerts) │
//	└───────────┘                   └────────────┬────────────┘
//	                 *notify.Notification, route │
//	                                ┌────────────▼────────────┐
//	                                │ grouping (group_wait)   │
//	                                └────────────┬────────────┘
//	                  the turn's notifications   │
//	   ┌─────────────────────────────────────────▼────────────────────────┐
//	   │ pipeline: ONE store transaction (store.State.Commit): the states │
//	   │ the stages marked changed + the outbox entries (dispatch.Expand) │
//	   └─────────────────────────────────────────┬────────────────────────┘
//	                   committed entries (Submit)│
//	                                ┌────────────▼────────────┐
//	                                │ dispatch (outbox, rate  │──▶ notify/*
//	                                │ limits, retries, log)   │
//	                                └─────────────────────────┘
//
// Every stage marks what changed for the status page (view.Marks); the
// pipeline builds the next view.View from those parts only, at most every
// view.MinGap, and web and api read it without waiting.
//
// Where state lives. Each stage keeps its own, keyed by check id or alert
// fingerprint: the target source the checks' identities (targets.Target,
// immutable, shared by pointer downstream); the scheduler their due times;
// checkstate their state and flap history; incident who was told of each
// incident and what holds it back; alerts the firing alerts; health the
// exporter's incident; grouping the batches. What survives a restart goes
// through one store interface (store.Interface: State for the pipeline,
// Outbox for dispatch, Silences for package silence); stages never touch
// it: the pipeline builds the records from the stages (a check's record is
// its target, its checkstate.Check and who incident told) and commits them
// with the notifications they caused before anything is sent.
//
// Time. Every part tells the time and sleeps through one clock.Clock: the
// run loop, the fetcher, dispatch, silences and the page. Tests drive the
// whole pipeline, Run included, with clock.Fake.
//
// Adding a stage. A stage is a package with its state, a constructor, the
// methods the coordinator calls and, when it feeds another stage, a small
// Sink interface that stage implements. It changes three places in the
// coordinator: its wiring (pipeline.wire), the input it handles (a case in
// pipeline.turn, or a hand-off in probeDone/applyTargets), and, if it keeps
// state across restarts, its records (pipeline.batch and restore). For
// instance: probing from several locations is another exporter.Prober
// given to the scheduler (a fan-out that aggregates a round), and several
// /sd sources one exporter.Lister for the fetcher; a router cluster puts a
// store.Interface partly elsewhere (its check records included: a member
// that gains a check reads its record back, given with the ownership
// filter, Pipeline.SetOwner, which also limits the stages to the checks
// it probes) and merges the other members' summaries into the View
// (pipeline.Peers); history taps every result and state change
// through a pipeline.Observer; acknowledging an incident is an input of
// the incident stage, whose notifications name their incident
// (notify.Notification.Incidents) for notifiers that edit messages.
package alertrouter

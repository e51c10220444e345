// Package locations probes every check from several places: one exporter
// per location (config exporters), a probe round asking them all at once,
// and a quorum deciding whether the round failed. It is the pipeline's
// exporter.Client when more than one location is configured:
//
//   - FanOut is the exporter.Prober given to the scheduler: a round asks
//     every location concurrently and aggregates their answers into one
//     exporter.Result (Aggregate), with each location's part in
//     Result.Locations. Locations whose exporter does not answer do not
//     count; the quorum is counted over those that answer.
//   - Union is the exporter.Lister given to the fetcher: the target lists
//     of every location whose /sd is used, merged (the same target and
//     module is one check).
//   - Health raises one "exporter unreachable" incident per location, so
//     that a location that is cut off is said once and never fails a
//     target.
//   - Rounds remembers the checks some location fails while the quorum
//     does not (degraded), for the status page.
//
// With one location the pipeline uses that exporter's client directly:
// nothing here runs, and the router behaves as it always did.
package locations

import TestSupport
import Testing

/// The suites that start programs (the exporter binary, Prometheus, Alertmanager, moto_server) run one test at a
/// time: on a 2-core machine several of them starting at once starve the in-process tests that check deadlines on
/// the wall clock.
@Suite("programs started by the tests, one at a time", .serialized, .tags(.process))
enum ExternalProgramTests {}

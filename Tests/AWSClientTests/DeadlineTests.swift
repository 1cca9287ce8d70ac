import TestSupport
import Testing

/// The suites that hold real deadlines or wall-clock waits (see the `.deadline` tag), gathered under one name so that
/// a developer's parallel run can leave them out: `swift test --parallel --skip ExternalProgramTests --skip
/// DeadlineTests` (CONTRIBUTING.md). On two busy cores their deadlines can pass before the work does.
@Suite(.tags(.deadline))
enum DeadlineTests {}

import Synchronization

/// What one scrape reports on: the snapshots the scheduler collected or reused for it.
package struct Scrape: Sendable {
    package let snapshots: [CollectionSnapshot]

    package init(snapshots: [CollectionSnapshot]) {
        self.snapshots = snapshots
    }
}

/// One producer of metric families, as node_exporter's `Collector` is: the page asks each of its sources in turn to
/// write its families into the one streamed writer, and every family is written by exactly one source.
package protocol MetricsSource: Sendable {
    /// Writes this source's families for `scrape`, calling `drain` between large pieces so that the caller can send
    /// and clear what is written (thousands of targets never make the whole exposition resident).
    func write(
        _ scrape: Scrape, into writer: inout PrometheusTextWriter,
        drain: (inout PrometheusTextWriter) async throws -> Void
    ) async rethrows
}

/// A monotonic count of one series: it only goes up, and starts at 0.
package final class Counter: Sendable {
    private let count = Mutex<Double>(0)

    package init() {}

    package func increment(by amount: Double = 1) {
        guard amount > 0 else { return }
        count.withLock { $0 += amount }
    }

    package var value: Double { count.withLock { $0 } }
}

/// The current value of one series.
package final class Gauge: Sendable {
    private let current = Mutex<Double>(0)

    package init() {}

    package func set(_ value: Double) { current.withLock { $0 = value } }
    package func increment() { current.withLock { $0 += 1 } }
    package func decrement() { current.withLock { $0 -= 1 } }

    package var value: Double { current.withLock { $0 } }
}

/// The exporter's few process-wide series (its HTTP server, reloads, discovery), made once by the parts that count
/// them and written in the order they were first asked for. Asking again for a family and labels gives the same
/// series, so a part made twice (a reloaded web configuration) keeps counting where it was.
///
/// swift-prometheus' registry did this before; it writes its own text into a buffer of its own, which the page could
/// only append raw beside the streamed families, with a second description of each family.
package final class ProcessWideMetrics: MetricsSource {
    private enum Series: Sendable {
        case counter(Counter)
        case gauge(Gauge)

        var value: Double {
            switch self {
            case .counter(let counter): counter.value
            case .gauge(let gauge): gauge.value
            }
        }
    }

    private struct Family: Sendable {
        let spec: MetricSpec
        var series: [(labels: EncodedLabels, key: [String], value: Series)] = []
    }

    private let families = Mutex<[Family]>([])

    package init() {}

    package func counter(_ spec: MetricSpec, labels: [(String, String)] = []) -> Counter {
        let made = series(spec, labels: labels) { .counter(Counter()) }
        guard case .counter(let counter) = made else { return Counter() }
        return counter
    }

    package func gauge(_ spec: MetricSpec, labels: [(String, String)] = []) -> Gauge {
        let made = series(spec, labels: labels) { .gauge(Gauge()) }
        guard case .gauge(let gauge) = made else { return Gauge() }
        return gauge
    }

    private func series(_ spec: MetricSpec, labels: [(String, String)], make: () -> Series) -> Series {
        let key = labels.flatMap { [$0.0, $0.1] }
        return families.withLock { families in
            let index =
                families.firstIndex { $0.spec.name == spec.name }
                ?? {
                    families.append(Family(spec: spec))
                    return families.count - 1
                }()
            if let existing = families[index].series.first(where: { $0.key == key }) { return existing.value }
            let made = make()
            families[index].series.append((EncodedLabels(labels), key, made))
            return made
        }
    }

    package func write(
        _ scrape: Scrape, into writer: inout PrometheusTextWriter,
        drain: (inout PrometheusTextWriter) async throws -> Void
    ) async rethrows {
        let families = self.families.withLock { $0 }
        for family in families where !family.series.isEmpty {
            writer.family(family.spec)
            for series in family.series {
                writer.sample(family.spec.name, series.labels, value: series.value.value)
            }
        }
    }
}

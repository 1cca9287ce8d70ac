import AWSClient

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The standard `process_*` metrics, read from `/proc/self` on Linux; elsewhere they are omitted.
package struct ProcessMetrics: MetricsSource {
    package struct Sample: Sendable, Equatable {
        package var cpuSeconds: Double
        package var residentBytes: Double
        package var virtualBytes: Double
        package var startTimeSeconds: Double
        package var openFDs: Double
        package var maxFDs: Double
    }

    private let procRoot: String

    package init(procRoot: String = "/proc") {
        self.procRoot = procRoot
    }

    package func read() -> Sample? {
        guard let stat = try? String(contentsOfFile: "\(procRoot)/self/stat", encoding: .utf8),
            let systemStat = try? String(contentsOfFile: "\(procRoot)/stat", encoding: .utf8)
        else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        let bootTime = systemStat.split(separator: "\n").first { $0.hasPrefix("btime ") }
            .flatMap { Double($0.dropFirst(6).trimmingASCIIWhitespace()) }
        guard let fields = Self.statFields(stat), fields.count > 21, ticks > 0, let bootTime else { return nil }
        // Fields after the command name, numbered from `state` (field 3 in proc(5)) at index 0.
        func field(_ number: Int) -> Double { Double(fields[number - 3]) ?? 0 }
        let openFDs = (try? FileManager.default.contentsOfDirectory(atPath: "\(procRoot)/self/fd").count) ?? 0
        var limit = rlimit()
        let maxFDs = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 ? Double(limit.rlim_cur) : 0
        return Sample(
            cpuSeconds: (field(14) + field(15)) / ticks,
            residentBytes: field(24) * pageSize,
            virtualBytes: field(23),
            startTimeSeconds: bootTime + field(22) / ticks,
            openFDs: Double(openFDs),
            maxFDs: maxFDs
        )
    }

    /// Splits `/proc/self/stat` after the parenthesised command, which may itself hold spaces and parentheses.
    static func statFields(_ stat: String) -> [Substring]? {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
    }

    package func write(
        _ scrape: Scrape, into writer: inout PrometheusTextWriter,
        drain: (inout PrometheusTextWriter) async throws -> Void
    ) async rethrows {
        guard let sample = read() else { return }
        let values: [(MetricSpec, Double)] = [
            (MetricCatalog.processCPUSeconds, sample.cpuSeconds),
            (MetricCatalog.processResidentMemory, sample.residentBytes),
            (MetricCatalog.processVirtualMemory, sample.virtualBytes),
            (MetricCatalog.processStartTime, sample.startTimeSeconds),
            (MetricCatalog.processOpenFDs, sample.openFDs),
            (MetricCatalog.processMaxFDs, sample.maxFDs),
        ]
        for (spec, value) in values {
            writer.family(spec)
            writer.sample(spec.name, value: value)
        }
    }
}

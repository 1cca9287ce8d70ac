/// What the running binary is, for `--version`, the User-Agent and `aws_sso_admin_exporter_build_info`.
package enum BuildInfo {
    package static let version = "0.1.0"
    /// The source revision; release builds set it by editing this line (see README, "Releasing").
    package static let revision = "unknown"

    package static var swiftVersion: String {
        #if compiler(>=6.4)
            "6.4+"
        #elseif compiler(>=6.3)
            "6.3"
        #elseif compiler(>=6.2)
            "6.2"
        #elseif compiler(>=6.1)
            "6.1"
        #else
            "6.0"
        #endif
    }

    /// The program's name, as the User-Agent and default role session names carry it.
    package static let name = "sso-admin-exporter"

    package static var userAgent: String { "\(name)/\(version)" }

    /// `aws_sso_admin_exporter_build_info`.
    struct Metrics: MetricsSource {
        func write(
            _ scrape: Scrape, into writer: inout PrometheusTextWriter,
            drain: (inout PrometheusTextWriter) async throws -> Void
        ) async rethrows {
            writer.family(MetricCatalog.buildInfo)
            writer.sample(
                MetricCatalog.buildInfo.name,
                labels: [("version", version), ("revision", revision), ("swift_version", swiftVersion)],
                value: 1
            )
        }
    }
}

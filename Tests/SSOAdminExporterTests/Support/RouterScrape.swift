import AWSClient
import CompressNIO
import Hummingbird
import HummingbirdTesting
import NIOCore
import SSOAdminExporter
import TestSupport
import Testing

extension MetricsPage {
    /// One scrape as Prometheus makes it: `GET` on the telemetry path through the exporter's router (its streamed,
    /// gzipped route), with the scrape timeout header that leaves `budget` for collecting; the answer inflated.
    /// `configuration` gives the telemetry path (`/metrics` when nil).
    func scrapeText(
        configuration: ExporterConfiguration? = nil, clock: AWSClock = .continuous, budget: Duration = .seconds(10)
    ) async throws -> String {
        let configuration = try configuration ?? ExporterHarness.configuration(endpoint: "http://127.0.0.1:9")
        let router = ExporterRouter.make(configuration: configuration, page: self, clock: clock)
        let timeout = Double((budget + ExporterConfiguration.scrapeTimeoutMargin) / .milliseconds(1)) / 1000
        return try await Application(router: router).test(.router) { client in
            try await client.execute(
                uri: configuration.telemetryPath, method: .get,
                headers: [.acceptEncoding: "gzip", ExporterRouter.scrapeTimeoutHeader: String(timeout)]
            ) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentEncoding] == "gzip")
                var body = response.body
                return String(buffer: try body.decompress(with: .gzip()))
            }
        }
    }

    /// ``scrapeText(configuration:clock:budget:)``, parsed.
    func scrape(
        configuration: ExporterConfiguration? = nil, clock: AWSClock = .continuous, budget: Duration = .seconds(10)
    ) async throws -> ParsedExposition {
        try ExpositionParser.parse(try await scrapeText(configuration: configuration, clock: clock, budget: budget))
    }
}

import AWSClient
import CompressNIO
import Hummingbird
import HummingbirdTesting
import NIOCore
import SSOAdminExporter
import TestSupport
import Testing

extension Exporter {
    /// One scrape as Prometheus makes it: `GET` on the telemetry path through the exporter's router (its streamed,
    /// gzipped route), with the scrape timeout header that leaves `budget` for collecting; the answer inflated.
    func scrapeText(clock: AWSClock = .continuous, budget: Duration = .seconds(10)) async throws -> String {
        let router = ExporterRouter.make(self.routes, clock: clock)
        let timeout = Double((budget + ScrapeBudget.margin) / .milliseconds(1)) / 1000
        return try await Application(router: router).test(.router) { client in
            try await client.execute(
                uri: routes.telemetryPath, method: .get,
                headers: [.acceptEncoding: "gzip", ExporterRouter.scrapeTimeoutHeader: String(timeout)]
            ) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentEncoding] == "gzip")
                var body = response.body
                return String(buffer: try body.decompress(with: .gzip()))
            }
        }
    }

    /// ``scrapeText(clock:budget:)``, parsed.
    func scrape(clock: AWSClock = .continuous, budget: Duration = .seconds(10)) async throws -> ParsedExposition {
        try ExpositionParser.parse(try await scrapeText(clock: clock, budget: budget))
    }
}

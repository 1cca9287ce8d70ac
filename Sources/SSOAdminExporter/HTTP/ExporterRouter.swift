import AWSClient
import HTTPTypes
import Hummingbird
import NIOCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The exporter's HTTP surface: landing page, metrics, health and readiness; 404 elsewhere.
public enum ExporterRouter {
    public static let scrapeTimeoutHeader = HTTPField.Name("X-Prometheus-Scrape-Timeout-Seconds")!
    public static let exposition = "text/plain; version=0.0.4; charset=utf-8"

    public static func make(
        configuration: ExporterConfiguration,
        page: MetricsPage,
        clock: MonotonicClock = .continuous
    ) -> Router<BasicRequestContext> {
        let router = Router()
        let landing = LandingPage.html(telemetryPath: configuration.telemetryPath)
        router.get("/") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/html; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: landing))
            )
        }
        router.get(RouterPath(configuration.telemetryPath)) { request, _ in
            let budget = configuration.collectionBudget(scrapeTimeoutHeader: request.headers[scrapeTimeoutHeader])
            let body = await page.render(deadline: clock.now().advanced(by: budget))
            return Response(
                status: .ok,
                headers: [.contentType: exposition],
                body: .init(byteBuffer: ByteBuffer(bytes: body))
            )
        }
        for path in ExporterConfiguration.reservedPaths {
            router.get(RouterPath(path)) { _, _ in
                Response(
                    status: .ok,
                    headers: [.contentType: "text/plain; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(string: "OK\n"))
                )
            }
        }
        return router
    }
}

/// The page at `/`, so a person who opens the exporter in a browser finds the metrics.
enum LandingPage {
    static func html(telemetryPath: String) -> String {
        let escaped = telemetryPath.replacing("&", with: "&amp;")
            .replacing("\"", with: "&quot;").replacing("<", with: "&lt;")
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head><meta charset="utf-8"><title>sso-admin-exporter</title></head>
            <body>
            <h1>sso-admin-exporter</h1>
            <p>Prometheus exporter for AWS IAM Identity Center instances (version \(BuildInfo.version)).</p>
            <ul>
            <li><a href="\(escaped)">Metrics</a></li>
            <li><a href="/-/healthy">Health</a></li>
            <li><a href="/-/ready">Readiness</a></li>
            </ul>
            </body>
            </html>

            """
    }
}

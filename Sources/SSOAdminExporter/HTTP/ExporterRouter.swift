import AWSClient
import CompressNIO
import HTTPTypes
import Hummingbird
import NIOCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The exporter's HTTP surface: landing page, metrics, health and readiness; HEAD wherever GET is served, 405 with
/// `Allow` for other methods there, 404 elsewhere.
package enum ExporterRouter {
    package static let scrapeTimeoutHeader = HTTPField.Name("X-Prometheus-Scrape-Timeout-Seconds")!
    package static let exposition = "text/plain; version=0.0.4; charset=utf-8"

    package static func make(
        _ routes: ExporterRoutes, web: WebConfigurationStore? = nil, clock: AWSClock = .continuous
    ) -> Router<BasicRequestContext> {
        let router = Router(options: .autoGenerateHeadEndpoints)
        // First, so that authentication and the configured headers cover every answer, 404 and 405 included.
        if let web {
            router.add(
                middleware: WebAccessMiddleware(store: web, clock: clock, refusals: .init(metrics: routes.refusals)))
        }
        let telemetryPath = routes.telemetryPath
        let knownPaths = Set(
            ["/", telemetryPath, probePath, serviceDiscoveryPath] + ExporterConfiguration.reservedPaths)
        router.add(
            middleware: HTTPSemanticsMiddleware(
                knownPaths: knownPaths, postOnlyPaths: routes.reload == nil ? [] : [reloadPath]))
        let landing = LandingPage.html(telemetryPath: telemetryPath)
        router.get("/") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/html; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: landing))
            )
        }
        let budget = routes.scrapeBudget
        let metrics = routes.metrics
        router.get(RouterPath(telemetryPath)) { request, _ in
            let deadline = clock.now().advanced(
                by: budget.budget(scrapeTimeoutHeader: request.headers[scrapeTimeoutHeader]))
            let snapshots = await metrics.snapshots(deadline: deadline)
            return streamedMetricsResponse(request: request) { writer, drain in
                try await metrics.write(snapshots, into: &writer, drain: drain)
            }
        }
        let probe = routes.probe
        router.get(RouterPath(probePath)) { request, _ in
            let query = request.uri.queryParameters
            let selection = TargetSelection(
                target: query["target"].map(String.init), accountID: query["account_id"].map(String.init),
                region: query["region"].map(String.init))
            if let problem = selection.problem {
                return HTTPSemanticsMiddleware<BasicRequestContext>.text(.badRequest, "400 \(problem)\n")
            }
            let deadline = clock.now().advanced(
                by: budget.budget(scrapeTimeoutHeader: request.headers[scrapeTimeoutHeader]))
            guard let snapshots = await probe.snapshots(selection, deadline: deadline) else {
                return HTTPSemanticsMiddleware<BasicRequestContext>.text(
                    .notFound, "404 no target matches \(selection); /sd lists them\n")
            }
            return streamedMetricsResponse(request: request) { writer, drain in
                try await probe.write(snapshots, into: &writer, drain: drain)
            }
        }
        let serviceDiscovery = routes.serviceDiscovery
        router.get(RouterPath(serviceDiscoveryPath)) { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: serviceDiscovery.json())))
        }
        if let reload = routes.reload {
            router.post(RouterPath(reloadPath)) { _, _ in
                // As Prometheus does: a reload over HTTP is something the operator opts into; SIGHUP always works.
                guard reload.enabled else {
                    return HTTPSemanticsMiddleware<BasicRequestContext>.text(.forbidden, lifecycleDisabledAnswer)
                }
                switch await reload.reloader.reload() {
                case .success(let summary):
                    return HTTPSemanticsMiddleware<BasicRequestContext>.text(.ok, "reloaded: \(summary)\n")
                case .failure(let error):
                    return HTTPSemanticsMiddleware<BasicRequestContext>.text(
                        .internalServerError, "reload failed; the last good targets stay:\n\(error)\n")
                }
            }
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

    /// The multi-target endpoint: one target's series, collected with the same deadline rules as `/metrics`.
    package static let probePath = "/probe"
    /// Prometheus HTTP service discovery (`http_sd_configs`): every target, for relabelling onto `/probe`.
    package static let serviceDiscoveryPath = "/sd"
    /// `POST` reloads `--config.file`, as Prometheus' own lifecycle endpoint does, with `--web.enable-lifecycle`.
    package static let reloadPath = "/-/reload"
    /// The answer to `POST /-/reload` without `--web.enable-lifecycle`: it names the flag.
    package static let lifecycleDisabledAnswer =
        "403 lifecycle API is not enabled; start the exporter with --web.enable-lifecycle (SIGHUP reloads either way)\n"

    /// Bytes of exposition gathered before they are sent (and compressed): large enough that a piece is worth a
    /// write, small enough that thousands of targets never make the whole exposition resident at once.
    package static let streamedPieceBytes = 128 << 10

    /// An exposition sent while it is written, gzipped on the way when the scrape admits it. The answer has no
    /// `Content-Length` (HTTP/1.1 chunked): with 6,000 targets the 10 MB exposition would otherwise be held whole,
    /// twice (the README's organization benchmark).
    static func streamedMetricsResponse(
        request: Request,
        write:
            @escaping @Sendable (
                inout PrometheusTextWriter, (inout PrometheusTextWriter) async throws -> Void
            ) async throws -> Void
    ) -> Response {
        var headers: HTTPFields = [.contentType: exposition, .vary: "Accept-Encoding"]
        let gzip = ResponseCompression.acceptsGzip(request.headers[values: .acceptEncoding])
        if gzip { headers[.contentEncoding] = "gzip" }
        let body = ResponseBody { output in
            var sink = try ExpositionSink(gzip: gzip)
            var text = PrometheusTextWriter(reservingCapacity: streamedPieceBytes + (16 << 10))
            try await write(&text) { text in
                guard text.bytes.count >= streamedPieceBytes else { return }
                try await sink.send(&text, to: &output)
            }
            try await sink.send(&text, to: &output)
            try await sink.finish(to: &output)
            try await output.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }
}

/// What each route serves, and nothing else: the router never sees the configuration or the services.
package struct ExporterRoutes: Sendable {
    /// `--web.telemetry-path`.
    package let telemetryPath: String
    /// How long `/metrics` and `/probe` collect.
    package let scrapeBudget: ScrapeBudget
    package let metrics: MetricsPage
    package let probe: ProbePage
    package let serviceDiscovery: ServiceDiscoveryPage
    /// `POST /-/reload`; `nil` without `--config.file`.
    package let reload: ReloadRoute?
    /// Where the requests `--web.config.file` refuses are counted.
    package let refusals: ProcessWideMetrics
}

/// `POST /-/reload`: the reloader, and whether `--web.enable-lifecycle` lets HTTP use it.
package struct ReloadRoute: Sendable {
    package let reloader: TargetsReloader
    package let enabled: Bool
}

/// The collection deadline of a scrape: Prometheus' announced timeout less a margin, else the fallback
/// (`--collect.timeout`).
package struct ScrapeBudget: Sendable {
    package let fallback: Duration

    package init(fallback: Duration) { self.fallback = fallback }

    /// Kept back from the scrape timeout Prometheus announces, so the answer arrives before it gives up.
    package static let margin: Duration = .milliseconds(500)

    /// The longest timeout a scrape may announce: any client can send the header, and scrapes that arrive while a
    /// collection runs share it, so one request must not start a collection that runs for hours.
    package var ceiling: Duration { max(fallback, Self.announcedCeiling) }
    package static let announcedCeiling: Duration = .seconds(300)

    package func budget(scrapeTimeoutHeader: String?) -> Duration {
        guard let header = scrapeTimeoutHeader?.trimmingASCIIWhitespace(),
            let seconds = Double(header), seconds.isFinite, seconds > 0
        else { return fallback }
        let announced = min(Duration.milliseconds(Int64(min(seconds, 86_400) * 1000)), ceiling)
        return max(announced - Self.margin, .milliseconds(100))
    }
}

/// The targets a `/probe` asks for: by name (a target's `NAME/REGION`, or a configuration entry's `NAME` for all its
/// regions), narrowed by `account_id` and `region`.
package struct TargetSelection: Sendable, CustomStringConvertible {
    package var target: String?
    package var accountID: String?
    package var region: String?

    package init(target: String?, accountID: String? = nil, region: String? = nil) {
        self.target = target
        self.accountID = accountID
        self.region = region
    }

    /// Why the selection cannot be served, if it cannot.
    var problem: String? {
        if target == nil && accountID == nil {
            return "give target= (a name from /sd) or account_id=; region= narrows either, but is not enough alone"
        }
        for (name, value) in [("target", target), ("account_id", accountID), ("region", region)] {
            if let value, value.isEmpty || value.count > 256 { return "\(name)= must be 1 to 256 characters" }
        }
        return nil
    }

    package func matches(_ target: CollectionTarget) -> Bool {
        if let name = self.target, target.name != name, !target.name.hasPrefix(name + "/") { return false }
        if let accountID, target.accountID != accountID { return false }
        if let region, target.region != region { return false }
        return true
    }

    package var description: String {
        [("target", target), ("account_id", accountID), ("region", region)]
            .compactMap { name, value in value.map { "\(name)=\(NetworkText.sanitized($0, limit: 64))" } }
            .joined(separator: "&")
    }
}

/// What clients of any exporter expect from its HTTP server: a short text body on 404 and on 405 (with `Allow`) for
/// a method a known path does not serve, and `Connection: close` echoed when the client asked for it (HTTP/1.0).
struct HTTPSemanticsMiddleware<Context: RequestContext>: RouterMiddleware {
    let knownPaths: Set<String>
    /// Paths served to `POST` only (`/-/reload`).
    var postOnlyPaths: Set<String> = []
    static var allowed: String { "GET, HEAD" }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            // The router ignores empty segments (`/metrics/` is `/metrics`); so does the choice of answer.
            let path = "/" + request.uri.path.split(separator: "/").joined(separator: "/")
            if postOnlyPaths.contains(path) {
                response = Self.text(.methodNotAllowed, "405 method \(request.method.rawValue) not allowed; use POST\n")
                response.headers[.allow] = "POST"
            } else if knownPaths.contains(path) {
                response = Self.text(
                    .methodNotAllowed, "405 method \(request.method.rawValue) not allowed; use \(Self.allowed)\n")
                response.headers[.allow] = Self.allowed
            } else {
                response = Self.text(.notFound, "404 page not found\n")
            }
        }
        if request.headers[.connection]?.lowercased() == "close" {
            response.headers[.connection] = "close"
        }
        return response
    }

    static func text(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(
            status: status,
            headers: [.contentType: "text/plain; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

/// gzip for `/metrics`, as client_golang's handler does when the scrape asks for it (Prometheus always does).
package enum ResponseCompression {
    /// zlib level 1; the benchmark's `gzip /metrics` rows compare it with levels 6 and 9 (figures in the README).
    package static let level: Int32 = 1

    /// Whether an `Accept-Encoding` list admits gzip: named (or `*`) with a q-value above 0.
    package static func acceptsGzip(_ values: [String]) -> Bool {
        for value in values {
            for item in value.split(separator: ",") {
                let parts = item.split(separator: ";").map { $0.trimmingASCIIWhitespace().lowercased() }
                guard let coding = parts.first, coding == "gzip" || coding == "x-gzip" || coding == "*" else {
                    continue
                }
                let quality = parts.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) }
                if (quality ?? 1) > 0 { return true }
            }
        }
        return false
    }

    /// The body gzipped, or `nil` when compression fails (the body then goes out as it is).
    package static func gzip(_ buffer: ByteBuffer, level: Int32 = level) -> ByteBuffer? {
        var input = buffer
        return try? input.compress(with: .gzip(configuration: .init(compressionLevel: level)))
    }
}

/// Sends exposition text as it is written, through a gzip stream when the scrape admits it.
struct ExpositionSink {
    private let compressor: (any NIOCompressor)?

    init(gzip: Bool) throws {
        guard gzip else {
            compressor = nil
            return
        }
        let compressor = CompressionAlgorithm.gzip(configuration: .init(compressionLevel: ResponseCompression.level))
            .compressor
        compressor.window = ByteBufferAllocator().buffer(capacity: 64 << 10)
        try compressor.startStream()
        self.compressor = compressor
    }

    /// Sends what `text` holds and clears it.
    mutating func send(_ text: inout PrometheusTextWriter, to output: inout any ResponseBodyWriter) async throws {
        guard !text.bytes.isEmpty else { return }
        var buffer = ByteBuffer(bytes: text.bytes)
        text.clear()
        guard let compressor else {
            try await output.write(buffer)
            return
        }
        try await buffer.compressStream(with: compressor, flush: .no) { try await output.write($0) }
    }

    /// Ends the gzip stream; nothing to do for plain text.
    mutating func finish(to output: inout any ResponseBodyWriter) async throws {
        guard let compressor else { return }
        var empty = ByteBuffer()
        try await empty.compressStream(with: compressor, flush: .finish) { try await output.write($0) }
        try compressor.finishStream()
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

import AWSClient
import NIOCore
import SSOAdminExporter

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The parsers that read what the network and the user's files send, each as a function of arbitrary bytes.
///
/// Built with `-sanitize=fuzzer,address -DFUZZING` (see `scripts/fuzz.sh`), libFuzzer drives
/// `LLVMFuzzerTestOneInput` and `FUZZ_TARGET` picks the parser. Built normally, `main` replays files through the same
/// code, which is how CI reruns the corpora and every crash kept as a regression input.
enum FuzzTarget: String, CaseIterable {
    case listInstancesPage = "list-instances-page"
    case xml
    case sharedConfig = "shared-config"
    case credentialsDocument = "credentials-document"
    case textWriter = "text-writer"
    case configFile = "config-file"
    case httpResponse = "http-response"
    case instanceDetails = "instance-details"

    /// Runs one input; a crash, a sanitizer report or a broken invariant (a trap) is a finding.
    func run(_ bytes: [UInt8]) {
        switch self {
        case .listInstancesPage:
            if let page = try? SSOAdminClient.decodePage(bytes) {
                _ = page.instances.count
            }
        case .xml:
            _ = try? XMLDocumentParser.parse(bytes)
        case .sharedConfig:
            _ = try? AWSConfigFileParser.parse(String(decoding: bytes, as: UTF8.self), path: "fuzz")
        case .credentialsDocument:
            if let credentials = try? CredentialsDocument.credentials(from: bytes, provider: "fuzz", source: "fuzz") {
                precondition(!credentials.accessKeyID.isEmpty && !credentials.secretAccessKey.isEmpty)
            }
        case .textWriter:
            Self.checkTextWriter(bytes)
        case .httpResponse:
            Self.checkHTTPResponse(bytes)
        case .instanceDetails:
            Self.checkInstanceDetails(bytes)
        case .configFile:
            // Any bytes: a configuration or an error naming the file, never a trap.
            do {
                let loaded = try TargetsConfiguration.parse(String(decoding: bytes, as: UTF8.self), path: "fuzz")
                precondition(!loaded.targets.isEmpty || loaded.discovery != nil)
            } catch {
                precondition(error.description.hasPrefix("fuzz"))
            }
        }
    }

    /// Any bytes from a connection, whole or cut in two where the first byte says: the same verdict and the same
    /// response either way, and never a body over the limit.
    static func checkHTTPResponse(_ bytes: [UInt8]) {
        func parse(_ pieces: [ArraySlice<UInt8>]) -> HTTP1ResponseParser.Response?? {
            var parser = HTTP1ResponseParser(maxHeadBytes: 512, maxBodyBytes: 256)
            do {
                for piece in pieces {
                    var buffer = ByteBuffer(bytes: piece)
                    if let response = try parser.feed(&buffer) { return .some(response) }
                }
                return .some(try parser.finishAtClose())
            } catch {
                precondition(!error.description.isEmpty)
                return .none
            }
        }
        let cut = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
        let whole = parse([bytes[...]])
        let split = parse([bytes[..<cut], bytes[cut...]])
        switch (whole, split) {
        case (.none, .none): break
        case (.some(let a), .some(let b)):
            precondition(a?.status == b?.status && a?.headers == b?.headers && a?.body == b?.body, "split differs")
            precondition((a?.body.count ?? 0) <= 256)
        default:
            preconditionFailure("whole and split disagree")
        }
    }

    /// Any bytes as a `DescribeInstance` answer and as a `ListRegions` page: decoded or refused, and what decodes
    /// renders as sample lines only (no label value breaks a line), with one state-set series at 1 per Region.
    static func checkInstanceDetails(_ bytes: [UInt8]) {
        let described = try? SSOAdminClient.decodeDescribeInstance(bytes)
        let page = try? SSOAdminClient.decodeRegionsPage(bytes)
        guard described != nil || page != nil else { return }
        let regions = InstanceRegions(keeping: Array((page?.items ?? []).prefix(SSOAdminClient.maxInstanceRegions)))
            .regions
        let arn = "arn:aws:sso:::instance/ssoins-1234567890abcdef"
        let target = CollectionTarget(name: "fuzz/us-east-1", region: "us-east-1", accountID: "123456789012")
        let snapshot = CollectionSnapshot(
            target: target,
            outcome: .success(
                instances: [InstanceMetadata(instanceArn: arn, ownerAccountId: "123456789012", status: .active)],
                pages: 1),
            collectedAt: Date(timeIntervalSince1970: 1_700_000_000), duration: .milliseconds(1),
            finishedAt: MonotonicInstant(offset: .zero),
            details: InstanceDetailsReport(
                byARN: [arn: InstanceDetails(encryption: described?.encryption, regions: regions)]))
        var writer = PrometheusTextWriter()
        SnapshotRenderer().render(snapshot, into: &writer)
        let text = String(decoding: writer.bytes, as: UTF8.self)
        var regionSetOnes = 0
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            precondition(line.hasPrefix("aws_sso_admin_"), "not a sample line: \(line.prefix(80))")
            precondition(Double(line.split(separator: " ").last ?? "") != nil, "no value: \(line.prefix(80))")
            if line.hasPrefix("aws_sso_admin_instance_region_status{"), line.hasSuffix(" 1") { regionSetOnes += 1 }
        }
        precondition(regionSetOnes == regions.count, "a Region's state set has not exactly one 1")
    }

    /// Any label value in: one well-formed sample line out, whose label value reads back as the cleaned input.
    static func checkTextWriter(_ bytes: [UInt8]) {
        let value = LabelValue.clean(String(decoding: bytes, as: UTF8.self), maxLength: 256)
        var writer = PrometheusTextWriter(reservingCapacity: 256)
        writer.sample("fuzz_metric", labels: [("value", value)], value: 1)
        let line = writer.bytes
        precondition(line.last == UInt8(ascii: "\n") && line.filter { $0 == UInt8(ascii: "\n") }.count == 1)
        let prefix = Array("fuzz_metric{value=\"".utf8)
        let suffix = Array("\"} 1\n".utf8)
        precondition(line.starts(with: prefix) && line.suffix(suffix.count).elementsEqual(suffix))
        let escaped = line[prefix.count..<(line.count - suffix.count)]
        precondition(unescape(escaped) == Array(value.utf8), "label value does not read back")
        precondition(String(validating: line, as: UTF8.self) != nil)
    }

    /// The text format's label-value unescaping: `\\`, `\"` and `\n`; anything else after a backslash is invalid.
    static func unescape(_ escaped: ArraySlice<UInt8>) -> [UInt8]? {
        var result: [UInt8] = []
        var iterator = escaped.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\n") { return nil }
            guard byte == UInt8(ascii: "\\") else {
                result.append(byte)
                continue
            }
            switch iterator.next() {
            case UInt8(ascii: "\\"): result.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "\""): result.append(UInt8(ascii: "\""))
            case UInt8(ascii: "n"): result.append(UInt8(ascii: "\n"))
            default: return nil
            }
        }
        return result
    }

    static var selected: FuzzTarget {
        let name = ProcessInfo.processInfo.environment["FUZZ_TARGET"] ?? ""
        guard let target = FuzzTarget(rawValue: name) else {
            fatalError("set FUZZ_TARGET to one of: \(allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return target
    }
}

struct FuzzUsageError: Error {}

#if FUZZING
    #if canImport(Glibc)
        import Glibc
    #endif

    private let fuzzTarget = FuzzTarget.selected

    /// libFuzzer's entry for programs that keep their own `main`: SwiftPM links every executable's `main` to the
    /// module's entry point, so libFuzzer's own `main` cannot be used.
    @_silgen_name("LLVMFuzzerRunDriver")
    private func runFuzzerDriver(
        _ argc: UnsafeMutablePointer<Int32>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
    ) -> Int32

    @main
    enum FuzzDriver {
        static func main() {
            var argc = CommandLine.argc
            var argv = CommandLine.unsafeArgv
            _ = fuzzTarget  // An unknown FUZZ_TARGET stops here, before libFuzzer starts.
            exit(
                runFuzzerDriver(&argc, &argv) { data, size in
                    fuzzTarget.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
                    return 0
                })
        }
    }
#else
    /// Replays inputs: `sso-admin-exporter-fuzz TARGET FILE...`; with `--exposition`, the text-writer target prints
    /// each input's exposition for promtool instead.
    @main
    enum FuzzReplay {
        static func main() throws {
            var arguments = Array(CommandLine.arguments.dropFirst())
            let exposition = arguments.first == "--exposition"
            if exposition { arguments.removeFirst() }
            guard let name = arguments.first, let target = FuzzTarget(rawValue: name) else {
                print("usage: sso-admin-exporter-fuzz [--exposition] TARGET FILE...")
                print("targets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
                throw FuzzUsageError()
            }
            var writer = PrometheusTextWriter()
            if exposition {
                writer.family(MetricSpec("fuzz_metric", .gauge, help: "Label values from the fuzz corpus."))
            }
            for path in arguments.dropFirst() {
                let bytes = Array(try Data(contentsOf: URL(filePath: path)))
                target.run(bytes)
                if exposition {
                    let value = LabelValue.clean(String(decoding: bytes, as: UTF8.self), maxLength: 256)
                    writer.sample(
                        "fuzz_metric", labels: [("value", value), ("file", String(path.suffix(40)))], value: 1)
                }
            }
            if exposition {
                print(String(decoding: writer.bytes, as: UTF8.self), terminator: "")
            } else {
                print("replayed \(arguments.count - 1) inputs through \(target.rawValue)")
            }
        }
    }
#endif

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Where a service is reached and how requests to it are signed.
public struct AWSServiceEndpoint: Sendable, Equatable {
    public let url: URL
    public let region: String
    /// The SigV4 signing name (`sso` for sso-admin), which is not always the endpoint prefix.
    public let signingName: String

    public init(url: URL, region: String, signingName: String) {
        self.url = url
        self.region = region
        self.signingName = signingName
    }

    /// The `Host` header value: the port only when it is not the scheme's default.
    public var hostHeader: String {
        let host = url.host ?? ""
        let bracketed = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        guard let port = url.port else { return bracketed }
        let isDefault = (url.scheme == "https" && port == 443) || (url.scheme == "http" && port == 80)
        return isDefault ? bracketed : "\(bracketed):\(port)"
    }
}

/// A configuration value that is present but unusable; the message names it.
public struct AWSConfigurationError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Region and endpoint resolution in the precedence the AWS SDKs use.
public enum AWSEndpointResolver {
    /// `--aws.region`, then `AWS_REGION`, then `AWS_DEFAULT_REGION`.
    public static func resolveRegion(explicit: String?, environment: [String: String]) throws -> String {
        let candidates: [(String, String?)] = [
            ("--aws.region", explicit),
            ("AWS_REGION", environment["AWS_REGION"]),
            ("AWS_DEFAULT_REGION", environment["AWS_DEFAULT_REGION"]),
        ]
        guard let (source, value) = candidates.first(where: { !($0.1 ?? "").isEmpty }), let region = value else {
            throw AWSConfigurationError("no AWS region: set --aws.region or AWS_REGION")
        }
        guard isValidRegion(region) else {
            throw AWSConfigurationError("\(source): \"\(region)\" is not a valid AWS region name")
        }
        return region
    }

    static func isValidRegion(_ region: String) -> Bool {
        guard (1...64).contains(region.count), !region.hasPrefix("-"), !region.hasSuffix("-") else { return false }
        return region.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
    }

    /// An explicit URL (flag, then `AWS_ENDPOINT_URL_<SERVICE>`, then `AWS_ENDPOINT_URL`), else the service's
    /// regional endpoint in the region's partition.
    public static func resolveEndpoint(
        endpointPrefix: String,
        serviceEnvironmentName: String,
        signingName: String,
        region: String,
        explicit: String?,
        environment: [String: String]
    ) throws -> AWSServiceEndpoint {
        let serviceVariable = "AWS_ENDPOINT_URL_\(serviceEnvironmentName)"
        let candidates: [(String, String?)] = [
            ("--aws.endpoint-url", explicit),
            (serviceVariable, environment[serviceVariable]),
            ("AWS_ENDPOINT_URL", environment["AWS_ENDPOINT_URL"]),
        ]
        if let (source, value) = candidates.first(where: { !($0.1 ?? "").isEmpty }), let text = value {
            return AWSServiceEndpoint(
                url: try parseEndpointURL(text, source: source), region: region, signingName: signingName)
        }
        let url = URL(string: "https://\(endpointPrefix).\(region).\(dnsSuffix(forRegion: region))")!
        return AWSServiceEndpoint(url: url, region: region, signingName: signingName)
    }

    /// The partition's DNS suffix; the full partition table arrives with the endpoint-rules work.
    static func dnsSuffix(forRegion region: String) -> String {
        region.hasPrefix("cn-") ? "amazonaws.com.cn" : "amazonaws.com"
    }

    static func parseEndpointURL(_ text: String, source: String) throws -> URL {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = url.host, !host.isEmpty
        else {
            throw AWSConfigurationError("\(source): \"\(text)\" is not an http:// or https:// URL with a host")
        }
        guard url.query == nil, url.fragment == nil, url.user == nil else {
            throw AWSConfigurationError("\(source): \"\(text)\" must not carry a query, fragment or user info")
        }
        return url
    }
}

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
    /// The `Host` header value: the port only when it is not the scheme's default.
    public let hostHeader: String
    /// The URL's path (decoded, `/` when empty) and raw query, as the signer takes them: worked out once, since
    /// Foundation's URL accessors cost more than a tenth of a signature on every call.
    let signingPath: String
    let signingQuery: String

    public init(url: URL, region: String, signingName: String) {
        self.url = url
        self.region = region
        self.signingName = signingName
        hostHeader = EndpointURL.hostHeader(of: url)
        signingPath = url.path.isEmpty ? "/" : url.path
        signingQuery = url.query(percentEncoded: true) ?? ""
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
    /// The caller's own setting (named `explicitSource` in errors: a flag, a file key), then `AWS_REGION`, then
    /// `AWS_DEFAULT_REGION`, then `region` in the active profile (read only when nothing before it is set, so a
    /// broken config file cannot stop a program whose region is given).
    public static func resolveRegion(
        explicit: String?,
        explicitSource: String = "the region given",
        environment: [String: String],
        profileRegion: () throws -> (region: String, origin: String)? = { nil }
    ) throws -> String {
        try resolveRegionAndSource(
            explicit: explicit, explicitSource: explicitSource, environment: environment, profileRegion: profileRegion
        ).region
    }

    /// The region and where it came from (`explicitSource`, `AWS_REGION`, `AWS_DEFAULT_REGION`, or
    /// `region in ORIGIN` for what `profileRegion` gives).
    public static func resolveRegionAndSource(
        explicit: String?,
        explicitSource: String = "the region given",
        environment: [String: String],
        profileRegion: () throws -> (region: String, origin: String)? = { nil }
    ) throws -> (region: String, source: String) {
        var candidates: [(String, String?)] = [
            (explicitSource, explicit),
            ("AWS_REGION", environment["AWS_REGION"]),
            ("AWS_DEFAULT_REGION", environment["AWS_DEFAULT_REGION"]),
        ]
        if !candidates.contains(where: { !($0.1 ?? "").isEmpty }), let fromProfile = try profileRegion() {
            candidates.append(("region in \(fromProfile.origin)", fromProfile.region))
        }
        guard let (source, value) = candidates.first(where: { !($0.1 ?? "").isEmpty }), let region = value else {
            throw AWSConfigurationError(
                "no AWS region: set \(explicitSource), AWS_REGION or region in the profile's section of the config file"
            )
        }
        guard isValidRegion(region) else {
            throw AWSConfigurationError("\(source): \"\(region)\" is not a valid AWS region name")
        }
        return (region, source)
    }

    public static func isValidRegion(_ region: String) -> Bool {
        guard (1...64).contains(region.count), !region.hasPrefix("-"), !region.hasSuffix("-") else { return false }
        return region.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
    }

    /// The endpoint for a service: an explicit URL (the caller's own setting, named `explicitSource` in errors, then
    /// `AWS_ENDPOINT_URL_<SERVICE>`, `AWS_ENDPOINT_URL`, the profile's `endpoint_url`), else the one the service's
    /// endpoint rules give for the region's partition, FIPS and dual-stack.
    public static func resolveEndpoint(
        endpointPrefix: String,
        serviceEnvironmentName: String,
        signingName: String,
        region: String,
        explicit: String?,
        explicitSource: String = "the endpoint URL given",
        environment: [String: String],
        profileEndpoint: (url: String, origin: String)? = nil,
        variants: AWSEndpointVariants = AWSEndpointVariants(),
        rules: AWSEndpointRules? = nil
    ) throws -> AWSServiceEndpoint {
        let serviceVariable = "AWS_ENDPOINT_URL_\(serviceEnvironmentName)"
        let candidates: [(String, String?)] = [
            (explicitSource, explicit),
            (serviceVariable, environment[serviceVariable]),
            ("AWS_ENDPOINT_URL", environment["AWS_ENDPOINT_URL"]),
            (profileEndpoint?.origin ?? "endpoint_url in the profile", profileEndpoint?.url),
        ]
        if let (source, value) = candidates.first(where: { !($0.1 ?? "").isEmpty }), let text = value {
            // As the endpoint rules say: a custom endpoint is used as given, so FIPS or dual-stack cannot apply.
            if variants.useFIPS {
                throw AWSConfigurationError(
                    "\(source) and \(variants.fipsSource) together: FIPS and custom endpoint are not supported")
            }
            if variants.useDualStack {
                throw AWSConfigurationError(
                    "\(source) and \(variants.dualStackSource) together: dual-stack and custom endpoint are not "
                        + "supported")
            }
            return AWSServiceEndpoint(
                url: try parseEndpointURL(text, source: source), region: region, signingName: signingName)
        }
        let host = try (rules ?? AWSEndpointRules(prefix: endpointPrefix)).host(region: region, variants: variants)
        return AWSServiceEndpoint(url: URL(string: "https://\(host)")!, region: region, signingName: signingName)
    }

    static func dnsSuffix(forRegion region: String) -> String {
        AWSPartition.of(region).dnsSuffix
    }

    static func parseEndpointURL(_ text: String, source: String) throws -> URL {
        let url = try EndpointURL.parse(text, source: source)
        guard url.query == nil, url.fragment == nil, url.user == nil else {
            throw AWSConfigurationError("\(source): \"\(text)\" must not carry a query, fragment or user info")
        }
        return url
    }
}

/// The FIPS and dual-stack endpoint variants (`AWS_USE_FIPS_ENDPOINT`, `AWS_USE_DUALSTACK_ENDPOINT`, or the caller's
/// own settings), with where each came from for error messages.
public struct AWSEndpointVariants: Sendable, Equatable {
    public var useFIPS: Bool
    public var useDualStack: Bool
    public var fipsSource: String
    public var dualStackSource: String

    public init(
        useFIPS: Bool = false,
        useDualStack: Bool = false,
        fipsSource: String = "AWS_USE_FIPS_ENDPOINT",
        dualStackSource: String = "AWS_USE_DUALSTACK_ENDPOINT"
    ) {
        self.useFIPS = useFIPS
        self.useDualStack = useDualStack
        self.fipsSource = fipsSource
        self.dualStackSource = dualStackSource
    }
}

/// The shape of the standard endpoint rule set that sso-admin's `endpoint-rule-set-1.json` follows: `prefix`,
/// `prefix-fips`, the partition's DNS suffix or dual-stack suffix, and partitions whose FIPS endpoint keeps the
/// standard host on `amazonaws.com` (sso-admin in aws-us-gov).
public struct AWSEndpointRules: Sendable, Equatable {
    public var prefix: String
    public var fipsStandardHostPartitions: Set<String>

    public init(prefix: String, fipsStandardHostPartitions: Set<String> = []) {
        self.prefix = prefix
        self.fipsStandardHostPartitions = fipsStandardHostPartitions
    }

    /// The host name, or the rule set's error for a variant the partition does not support.
    public func host(region: String, variants: AWSEndpointVariants) throws -> String {
        let partition = AWSPartition.of(region)
        switch (variants.useFIPS, variants.useDualStack) {
        case (true, true):
            guard partition.supportsFIPS && partition.supportsDualStack else {
                throw AWSConfigurationError(
                    "FIPS and DualStack are enabled, but partition \(partition.id) does not support one or both")
            }
            return "\(prefix)-fips.\(region).\(partition.dualStackDNSSuffix)"
        case (true, false):
            guard partition.supportsFIPS else {
                throw AWSConfigurationError("FIPS is enabled but partition \(partition.id) does not support FIPS")
            }
            if fipsStandardHostPartitions.contains(partition.id) { return "\(prefix).\(region).amazonaws.com" }
            return "\(prefix)-fips.\(region).\(partition.dnsSuffix)"
        case (false, true):
            guard partition.supportsDualStack else {
                throw AWSConfigurationError(
                    "DualStack is enabled but partition \(partition.id) does not support DualStack")
            }
            return "\(prefix).\(region).\(partition.dualStackDNSSuffix)"
        case (false, false):
            return "\(prefix).\(region).\(partition.dnsSuffix)"
        }
    }
}

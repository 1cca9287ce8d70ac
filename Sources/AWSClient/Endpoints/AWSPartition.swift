/// An AWS partition as botocore's `partitions.json` describes it: which regions it holds and how its hosts are named.
public struct AWSPartition: Sendable, Equatable {
    public let id: String
    public let regionPattern: String
    public let regions: Set<String>
    public let dnsSuffix: String
    public let dualStackDNSSuffix: String
    public let supportsFIPS: Bool
    public let supportsDualStack: Bool

    public init(
        id: String,
        regionPattern: String,
        regions: Set<String>,
        dnsSuffix: String,
        dualStackDNSSuffix: String,
        supportsFIPS: Bool,
        supportsDualStack: Bool
    ) {
        self.id = id
        self.regionPattern = regionPattern
        self.regions = regions
        self.dnsSuffix = dnsSuffix
        self.dualStackDNSSuffix = dualStackDNSSuffix
        self.supportsFIPS = supportsFIPS
        self.supportsDualStack = supportsDualStack
    }

    /// The `aws.partition` function of the endpoint rules: the partition listing `region`, else the first whose
    /// pattern matches it, else `aws`.
    public static func of(_ region: String) -> AWSPartition {
        if let listed = all.first(where: { $0.regions.contains(region) }) { return listed }
        if let matched = all.first(where: { $0.matches(region) }) { return matched }
        return all.first { $0.id == "aws" }!
    }

    /// Every region some partition lists, sorted: what a region given by a user can be checked against. A region
    /// launched after this data was generated is missing, so a region not listed is worth a warning, not an error.
    public static let listedRegions: [String] = all.flatMap(\.regions).sorted()

    /// Whether a partition lists `region`.
    public static func lists(_ region: String) -> Bool { all.contains { $0.regions.contains(region) } }

    func matches(_ region: String) -> Bool {
        guard let regex = try? Regex(regionPattern) else { return false }
        return (try? regex.wholeMatch(in: region)) != nil
    }
}

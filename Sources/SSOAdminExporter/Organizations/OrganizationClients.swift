import AWSClient

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// An account of the organization, as `ListAccounts` lists it.
package struct OrganizationAccount: Sendable, Equatable {
    package let id: String
    /// `State` (`ACTIVE`, `SUSPENDED`, `PENDING_CLOSURE`, `PENDING_ACTIVATION`, `CLOSED`), else the older `Status`.
    package let state: String
}

/// The Organizations operations discovery needs, over JSON 1.1 (`botocore/data/organizations/2016-11-28`).
package struct OrganizationsClient: Sendable {
    package static let targetPrefix = "AWSOrganizationsV20161128"
    package static let signingName = "organizations"
    package static let endpointEnvironmentName = "ORGANIZATIONS"
    /// `NextToken` and `MaxResults` bounds in the model.
    package static let maxTokenLength = 100_000
    package static let maxPageSize = 20
    /// Accounts one discovery reads at most (the README's "Many accounts" states it): a listing longer than this is
    /// refused, and the last good one kept, rather than read into memory whatever `ListAccounts` sends.
    package static let maxAccounts = 20_000
    /// `ListAccounts` pages one discovery fetches at most: room for `maxAccounts` at a quarter of the page size.
    package static let maxPages = 4 * maxAccounts / maxPageSize

    package static let listAccounts = AWSOperation(
        name: "ListAccounts",
        modeledErrors: [
            "AccessDeniedException", "AWSOrganizationsNotInUseException", "InvalidInputException",
            "ServiceException", "TooManyRequestsException",
        ],
        decode: decodeAccounts)
    package static let describeOrganization = AWSOperation(
        name: "DescribeOrganization",
        modeledErrors: [
            "AccessDeniedException", "AWSOrganizationsNotInUseException", "ConcurrentModificationException",
            "ServiceException", "TooManyRequestsException",
        ],
        decode: decodeManagementAccount)

    package let client: AWSJSONClient

    package init(client: AWSJSONClient) {
        self.client = client
    }

    /// Every account of the organization, each once, in listing order: pages that overlap (as a retried page can)
    /// list an account twice, and the first listing is kept.
    package func accounts(deadline: MonotonicInstant) async throws -> [OrganizationAccount] {
        let (listed, _) = try await AWSPaginator(maxPages: Self.maxPages, maxTokenLength: Self.maxTokenLength).items(
            of: Self.listAccounts.name, maxItems: Self.maxAccounts,
            fetch: { token in
                try await client.send(
                    Self.listAccounts, body: JSONBody.pagination(maxResults: Self.maxPageSize, nextToken: token),
                    deadline: deadline)
            },
            nextToken: \.nextToken, items: \.items)
        var seen = Set<String>()
        return listed.filter { seen.insert($0.id).inserted }
    }

    /// The organization's management account.
    package func managementAccountID(deadline: MonotonicInstant) async throws -> String {
        try await client.send(Self.describeOrganization, body: Array("{}".utf8), deadline: deadline)
    }

    static func decodeAccounts(_ body: [UInt8]) throws -> JSONPage<OrganizationAccount> {
        try JSONPage.read(body, listMember: "Accounts", maxItems: maxAccounts + 1) { reader in
            var id: String?
            var state: String?
            var status: String?
            try reader.readObject { reader, member in
                switch member {
                case "Id": id = try reader.readString()
                case "State": state = try reader.readString()
                case "Status": status = try reader.readString()
                default: try reader.skipValue()
                }
            }
            guard let id, AccountID.isValid(id) else { throw JSONShapeError("an account without a 12-digit Id") }
            return OrganizationAccount(id: id, state: state ?? status ?? "UNKNOWN")
        }
    }

    static func decodeManagementAccount(_ body: [UInt8]) throws -> String {
        var reader = JSONReader(body)
        var management: String?
        try reader.readObject { reader, member in
            guard member == "Organization", try reader.peekKind() == .object else { return try reader.skipValue() }
            try reader.readObject { reader, member in
                if member == "MasterAccountId" { management = try reader.readString() } else { try reader.skipValue() }
            }
        }
        guard let management, AccountID.isValid(management) else {
            throw JSONShapeError("DescribeOrganization without a 12-digit MasterAccountId")
        }
        return management
    }
}

/// The Account Management operation discovery needs, over REST-JSON (`botocore/data/account/2021-02-01`).
package struct AccountClient: Sendable {
    package static let signingName = "account"
    package static let endpointEnvironmentName = "ACCOUNT"
    package static let maxTokenLength = 1000
    package static let maxPageSize = 50
    /// `ListRegions` pages read per account: AWS has about 35 Regions, one or two pages.
    package static let maxPages = 20
    /// Regions kept per account (the README's "Many accounts" states it); more are logged and counted, not watched.
    package static let maxRegions = 64
    /// Regions one account's `ListRegions` may list, duplicates and names that are not Regions included, before they
    /// are de-duplicated and capped: a longer listing is refused as it arrives rather than held.
    package static let maxListedRegions = 1_000

    package static let listRegions = AWSOperation(
        name: "ListRegions",
        modeledErrors: [
            "AccessDeniedException", "ValidationException", "TooManyRequestsException", "InternalServerException",
        ],
        decode: decodeRegions)

    package let client: AWSJSONClient

    package init(client: AWSJSONClient) {
        self.client = client
    }

    /// The regions the calling account has enabled (opted in, or enabled by default), each once, in listing order.
    package func enabledRegions(deadline: MonotonicInstant) async throws -> EnabledRegions {
        let (listed, _) = try await AWSPaginator(maxPages: Self.maxPages, maxTokenLength: Self.maxTokenLength).items(
            of: Self.listRegions.name, maxItems: Self.maxListedRegions,
            fetch: { token in
                var body = JSONBody.pagination(maxResults: Self.maxPageSize, nextToken: token)
                body.removeLast()
                body += Array(#","RegionOptStatusContains":["ENABLED","ENABLED_BY_DEFAULT"]}"#.utf8)
                return try await client.send(Self.listRegions, body: body, restPath: "/listRegions", deadline: deadline)
            },
            nextToken: \.nextToken, items: \.items)
        var regions = EnabledRegions()
        var seen = Set<String>()
        for region in listed where region.status == "ENABLED" || region.status == "ENABLED_BY_DEFAULT" {
            guard Self.looksLikeRegion(region.name) else {
                regions.refused += 1
                continue
            }
            guard seen.insert(region.name).inserted else { continue }
            guard regions.names.count < Self.maxRegions else {
                regions.beyondLimit += 1
                continue
            }
            regions.names.append(region.name)
        }
        return regions
    }

    /// What `ListRegions` gave for one account: the names kept, and how many were left out.
    package struct EnabledRegions: Sendable, Equatable {
        package var names: [String] = []
        /// Names that do not look like a Region (`us-east-1`, `us-gov-west-1`).
        package var refused = 0
        /// Distinct Regions past ``AccountClient/maxRegions``.
        package var beyondLimit = 0
    }

    /// A Region's shape, as every AWS Region name has it: lower-case words joined by `-`, ending in a number of one
    /// or two digits (`us-east-1`, `ap-southeast-5`, `us-gov-west-1`, `eu-isoe-west-1`).
    static func looksLikeRegion(_ name: String) -> Bool {
        let words = name.split(separator: "-", omittingEmptySubsequences: false)
        guard name.utf8.count <= 32, words.count >= 3, let number = words.last, (1...2).contains(number.count),
            number.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
        else { return false }
        return words.dropLast().allSatisfy { word in
            !word.isEmpty && word.utf8.allSatisfy { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) }
        }
    }

    /// Items without a `RegionName` string are refused whole; a name of the wrong shape is left to
    /// ``enabledRegions(deadline:)``, which counts it.
    static func decodeRegions(_ body: [UInt8]) throws -> JSONPage<(name: String, status: String)> {
        try JSONPage.read(body, listMember: "Regions", maxItems: maxListedRegions + 1) { reader in
            var name: String?
            var status: String?
            try reader.readObject { reader, member in
                switch member {
                case "RegionName": name = try reader.readString()
                case "RegionOptStatus": status = try reader.readString()
                default: try reader.skipValue()
                }
            }
            guard let name else { throw JSONShapeError("a region without a RegionName") }
            return (String(name.prefix(64)), status ?? "")
        }
    }
}

/// One page of a JSON listing: its items and the token of the next page.
package struct JSONPage<Item: Sendable>: Sendable {
    package let items: [Item]
    package let nextToken: String?

    /// Reads `{"<listMember>": [...], "NextToken": "..."}`, other members skipped. Items past `maxItems` are
    /// checked but not kept: a page that lists more than its caller can hold costs no memory for them, and the
    /// paginator refuses it by its count.
    static func read(
        _ body: [UInt8], listMember: String, maxItems: Int = .max, item: (inout JSONReader) throws -> Item
    ) throws -> JSONPage {
        var reader = JSONReader(body)
        var items: [Item] = []
        var nextToken: String?
        try reader.readObject { reader, member in
            switch member {
            case listMember:
                guard try reader.peekKind() != .null else { return try reader.skipValue() }
                try reader.readArray { reader in
                    if items.count < maxItems { items.append(try item(&reader)) } else { try reader.skipValue() }
                }
            case "NextToken": nextToken = try reader.readString()
            default: try reader.skipValue()
            }
        }
        try reader.expectEnd()
        return JSONPage(items: items, nextToken: nextToken)
    }
}

/// A 2xx JSON response whose content does not have the model's shape.
package struct JSONShapeError: Error, Sendable, CustomStringConvertible {
    package let description: String
    init(_ description: String) { self.description = description }
}

enum JSONBody {
    /// `{"MaxResults":N,"NextToken":"..."}`, the token left out on the first page.
    static func pagination(maxResults: Int, nextToken: String?) -> [UInt8] {
        var members = ["\"MaxResults\":\(maxResults)"]
        if let nextToken { members.append("\"NextToken\":\(JSONStringLiteral.encode(nextToken))") }
        return Array("{\(members.joined(separator: ","))}".utf8)
    }
}

enum AccountID {
    static func isValid(_ text: String) -> Bool { text.count == 12 && text.allSatisfy { $0.isASCII && $0.isNumber } }
}

/// The endpoint of a global service (Organizations, Account): one per partition, signed for the partition's home
/// region, unless an endpoint is given (`AWS_ENDPOINT_URL_<SERVICE>`, `AWS_ENDPOINT_URL`).
enum GlobalServiceEndpoint {
    static func resolve(
        prefix: String, signingName: String, environmentName: String, region: String,
        environment: [String: String]
    ) throws -> AWSServiceEndpoint {
        let partition = AWSPartition.of(region)
        let home: String =
            switch partition.id {
            case "aws": "us-east-1"
            case "aws-cn": "cn-northwest-1"
            case "aws-us-gov": "us-gov-west-1"
            default: region
            }
        for variable in ["AWS_ENDPOINT_URL_\(environmentName)", "AWS_ENDPOINT_URL"] {
            if let text = environment[variable], !text.isEmpty {
                return AWSServiceEndpoint(
                    url: try EndpointURL.parse(text, source: variable), region: home, signingName: signingName)
            }
        }
        return AWSServiceEndpoint(
            url: URL(string: "https://\(prefix).\(home).\(partition.dnsSuffix)")!, region: home,
            signingName: signingName)
    }
}

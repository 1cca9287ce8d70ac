import AWSClient

/// A status from the service model, keeping any value the model does not list yet (cleaned for use as a label
/// value): `KmsKeyStatus` and `RegionStatus`, read from `DescribeInstance` and sso-admin `ListRegions`.
package struct ModeledStatus: Sendable, Hashable, CustomStringConvertible {
    package let rawValue: String

    /// An empty value is reported as `UNKNOWN`, as a missing one is.
    package init(_ rawValue: String) {
        let cleaned = LabelValue.clean(rawValue, maxLength: 64)
        self.rawValue = cleaned.isEmpty ? SnapshotRenderer.missingStatus : cleaned
    }

    package var description: String { rawValue }

    /// `KmsKeyStatus`, in the model's order; each has a series in the state set.
    package static let encryptionStatuses = ["UPDATING", "ENABLED", "UPDATE_FAILED"].map(ModeledStatus.init)
    /// `RegionStatus`, in the model's order.
    package static let regionStatuses = ["ACTIVE", "ADDING", "REMOVING"].map(ModeledStatus.init)
}

/// `EncryptionConfigurationDetails` of `DescribeInstanceResponse`, every member optional as the model has it.
package struct EncryptionDetails: Sendable, Equatable {
    /// `KmsKeyType`: `AWS_OWNED_KMS_KEY` or `CUSTOMER_MANAGED_KEY`.
    package var keyType: String?
    package var kmsKeyArn: String?
    package var status: ModeledStatus?
    package var statusReason: String?

    package init(
        keyType: String? = nil, kmsKeyArn: String? = nil, status: ModeledStatus? = nil, statusReason: String? = nil
    ) {
        self.keyType = keyType
        self.kmsKeyArn = kmsKeyArn
        self.status = status
        self.statusReason = statusReason
    }
}

/// What the exporter reads of `DescribeInstanceResponse`: the instance's encryption, absent when the service does not
/// send it (instances from before customer-managed keys).
package struct DescribeInstanceOutput: Sendable, Equatable {
    package var encryption: EncryptionDetails?

    package init(encryption: EncryptionDetails?) {
        self.encryption = encryption
    }
}

/// One `RegionMetadata` of sso-admin's `ListRegionsResponse`.
package struct InstanceRegion: Sendable, Equatable {
    package var name: String
    package var status: ModeledStatus?
    /// `AddedDate`, fractional epoch seconds as the JSON protocol sends timestamps.
    package var addedDate: Double?
    package var isPrimary: Bool?

    package init(name: String, status: ModeledStatus? = nil, addedDate: Double? = nil, isPrimary: Bool? = nil) {
        self.name = name
        self.status = status
        self.addedDate = addedDate
        self.isPrimary = isPrimary
    }
}

/// The Regions one instance lists, as kept: each Region once, in listing order, at most
/// ``SSOAdminClient/maxInstanceRegions``; names that are not Regions, and repeats of a Region with other values, are
/// counted, not kept.
package struct InstanceRegions: Sendable, Equatable {
    package var regions: [InstanceRegion] = []
    /// Names that do not have a Region's shape, left out.
    package var refused = 0
    /// Repeats of a kept Region whose status, date or primary flag differ from the first: which one is true cannot be
    /// told, so the first is kept and the listing counted as inconsistent. An identical repeat is not counted.
    package var conflicting = 0

    package init(regions: [InstanceRegion] = [], refused: Int = 0, conflicting: Int = 0) {
        self.regions = regions
        self.refused = refused
        self.conflicting = conflicting
    }

    /// What a listing keeps: each Region once (the first entry wins), names of a Region's shape only.
    package init(keeping listed: [InstanceRegion]) {
        var kept: [String: Int] = [:]
        for region in listed {
            guard AccountClient.looksLikeRegion(region.name) else {
                refused += 1
                continue
            }
            if let index = kept[region.name] {
                if regions[index] != region { conflicting += 1 }
                continue
            }
            kept[region.name] = regions.count
            regions.append(region)
        }
    }
}

extension SSOAdminClient {
    /// `DescribeInstance` and sso-admin's `ListRegions` list the same four errors as `ListInstances`.
    package static let describeInstanceOperation = AWSOperation(
        name: "DescribeInstance", modeledErrors: modeledErrors, decode: decodeDescribeInstance)
    package static let listRegionsOperation = AWSOperation(
        name: "ListRegions", modeledErrors: modeledErrors, decode: decodeRegionsPage)

    /// AWS has about 35 Regions; an instance can be replicated to a few. A listing past these bounds is refused
    /// (`TooManyItems`, `PaginationLoop`) rather than read into memory.
    package static let maxInstanceRegions = 100
    package static let maxRegionPages = 100

    /// The model's `InstanceArn` bound: a longer ARN is not sent.
    package static let maxInstanceARNLength = 1224

    package func describeInstance(arn: String, deadline: MonotonicInstant) async throws -> DescribeInstanceOutput {
        try await client.send(
            Self.describeInstanceOperation,
            body: Array("{\"InstanceArn\":\(JSONStringLiteral.encode(arn))}".utf8), deadline: deadline)
    }

    /// Every page of sso-admin's `ListRegions` for the instance `arn`.
    package func listRegions(instanceArn arn: String, deadline: MonotonicInstant) async throws -> InstanceRegions {
        let (listed, _) = try await AWSPaginator(
            maxPages: Self.maxRegionPages, maxTokenLength: ListInstancesPaginator.maxTokenLength
        ).items(
            of: Self.listRegionsOperation.name, maxItems: Self.maxInstanceRegions,
            fetch: { token in
                var body = "{\"InstanceArn\":\(JSONStringLiteral.encode(arn)),\"MaxResults\":100"
                if let token { body += ",\"NextToken\":\(JSONStringLiteral.encode(token))" }
                body += "}"
                return try await client.send(Self.listRegionsOperation, body: Array(body.utf8), deadline: deadline)
            },
            nextToken: \.nextToken, items: \.items)
        return InstanceRegions(keeping: listed)
    }

    /// Reads `DescribeInstanceResponse`. The top level must be an object; `EncryptionConfigurationDetails` of another
    /// type counts as absent, as do its members of the wrong type.
    package static func decodeDescribeInstance(_ body: [UInt8]) throws -> DescribeInstanceOutput {
        var reader = JSONReader(body)
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09 }) {
            return DescribeInstanceOutput(encryption: nil)
        }
        guard try reader.peekKind() == .object else {
            throw JSONShapeError("a DescribeInstance response that is not an object")
        }
        var encryption: EncryptionDetails?
        try reader.readObject { reader, member in
            guard member == "EncryptionConfigurationDetails", try reader.peekKind() == .object else {
                return try reader.skipValue()
            }
            var details = EncryptionDetails()
            try reader.readObject { reader, member in
                switch member {
                // Cut as they are read: descriptions are kept between collections, and a label holds no more.
                case "KeyType": details.keyType = try reader.readString().map { String($0.prefix(64)) }
                case "KmsKeyArn": details.kmsKeyArn = try reader.readString().map { String($0.prefix(2048)) }
                case "EncryptionStatus": details.status = try reader.readString().map(ModeledStatus.init)
                case "EncryptionStatusReason":
                    details.statusReason = try reader.readString().map { String($0.prefix(1024)) }
                default: try reader.skipValue()
                }
            }
            encryption = details
        }
        try reader.expectEnd()
        return DescribeInstanceOutput(encryption: encryption)
    }

    /// Reads one page of sso-admin's `ListRegionsResponse`. A Region without a `RegionName` string is refused whole
    /// (the page is not the model's); a name of the wrong shape is left to ``listRegions(instanceArn:deadline:)``.
    package static func decodeRegionsPage(_ body: [UInt8]) throws -> JSONPage<InstanceRegion> {
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09 }) {
            return JSONPage(items: [], nextToken: nil)
        }
        return try JSONPage.read(body, listMember: "Regions", maxItems: maxInstanceRegions + 1) { reader in
            guard try reader.peekKind() == .object else { throw JSONShapeError("a Region that is not an object") }
            var name: String?
            var region = InstanceRegion(name: "")
            try reader.readObject { reader, member in
                switch member {
                case "RegionName": name = try reader.readString()
                case "Status": region.status = try reader.readString().map(ModeledStatus.init)
                case "AddedDate": region.addedDate = try reader.readNumber().flatMap { $0.isFinite ? $0 : nil }
                case "IsPrimaryRegion": region.isPrimary = try reader.readBool()
                default: try reader.skipValue()
                }
            }
            guard let name else { throw JSONShapeError("a Region without a RegionName") }
            region.name = String(name.prefix(64))
            return region
        }
    }
}

import Foundation

/// The `awsJson1_1` protocol: `POST /` with an `X-Amz-Target` header and a JSON body.
public enum AWSJSONProtocol {
    public static let contentType = "application/x-amz-json-1.1"

    /// The unsigned request for one operation.
    public static func request(
        endpoint: URL,
        targetPrefix: String,
        operation: String,
        body: [UInt8]
    ) -> AWSHTTPRequest {
        AWSHTTPRequest(
            method: "POST",
            url: endpoint,
            headers: [
                ("Content-Type", contentType),
                ("X-Amz-Target", "\(targetPrefix).\(operation)"),
            ],
            body: body
        )
    }

    /// The error in a non-2xx response, following the order the AWS SDKs use for `awsJson1_1`:
    /// the `X-Amzn-ErrorType` header, then `__type`, then `code` in the body.
    /// A body that is not JSON falls back to an XML `<Code>` element and then to a name for the HTTP status.
    public static func parseError(_ response: AWSHTTPResponse) -> AWSServiceError {
        let requestID = response.header("x-amzn-requestid") ?? response.header("x-amz-request-id")
        var code = response.header("x-amzn-errortype").map(normalizeErrorCode)
        var message: String?
        if let object = try? JSONSerialization.jsonObject(with: Data(response.body), options: [])
            as? [String: Any]
        {
            if code == nil || code?.isEmpty == true {
                let raw = (object["__type"] as? String) ?? (object["code"] as? String) ?? (object["Code"] as? String)
                code = raw.map(normalizeErrorCode)
            }
            message = (object["message"] as? String) ?? (object["Message"] as? String)
        } else if code == nil || code?.isEmpty == true {
            let text = String(decoding: response.body.prefix(64 << 10), as: UTF8.self)
            code = xmlElement("Code", in: text)
            message = xmlElement("Message", in: text)
        }
        let resolved = (code?.isEmpty == false ? code : nil) ?? statusCodeName(response.status)
        return AWSServiceError(code: resolved, statusCode: response.status, message: message, requestID: requestID)
    }

    /// `aws.protocoltests#ThrottlingException:http://internal` becomes `ThrottlingException`.
    public static func normalizeErrorCode(_ raw: String) -> String {
        var code = Substring(raw.trimmingCharacters(in: .whitespaces))
        if let colon = code.firstIndex(of: ":") { code = code[..<colon] }
        if let hash = code.lastIndex(of: "#") { code = code[code.index(after: hash)...] }
        return String(code)
    }

    /// A stable error name for a response that carried none.
    public static func statusCodeName(_ status: Int) -> String {
        switch status {
        case 400: "BadRequest"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "NotFound"
        case 413: "RequestEntityTooLarge"
        case 429: "TooManyRequests"
        case 500: "InternalServerError"
        case 502: "BadGateway"
        case 503: "ServiceUnavailable"
        case 504: "GatewayTimeout"
        default: "HTTP\(status)"
        }
    }

    private static func xmlElement(_ name: String, in text: String) -> String? {
        guard let open = text.range(of: "<\(name)>"),
            let close = text.range(of: "</\(name)>", range: open.upperBound..<text.endIndex)
        else { return nil }
        let value = text[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespacesAndNewlines)
        return value.isEmpty ? nil : value
    }
}

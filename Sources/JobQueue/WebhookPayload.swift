import Foundation

/// The body fal POSTs to a `fal_webhook` URL when a request ends:
/// `{"request_id","gateway_request_id","status":"OK"|"ERROR","payload",...,"error"?,"payload_error"?}`.
///
/// Every driver builds the outbox row with this, in the same transaction as the terminal state,
/// so the bytes signed and sent later are fixed at the moment the job ended.
public enum WebhookPayload {
    /// Builds the webhook body for a job that ended in `state` with `result`.
    ///
    /// `status` is `OK` only for a completed job with a 2xx result. The result body is embedded
    /// byte for byte when it is JSON; otherwise `payload` is null and `payload_error` says why.
    public static func body(requestID: String, state: JobState, result: JobResult) -> Data {
        let ok = state == .completed && (200..<300).contains(result.status)
        var out = Data("{".utf8)
        out.append(Data(#""request_id":"#.utf8))
        out.append(jsonString(requestID))
        out.append(Data(#","gateway_request_id":"#.utf8))
        out.append(jsonString(requestID))
        out.append(Data(ok ? #","status":"OK""#.utf8 : #","status":"ERROR""#.utf8))
        out.append(Data(#","payload":"#.utf8))
        if result.body.isEmpty {
            out.append(Data("null".utf8))
        } else if (try? JSONSerialization.jsonObject(with: result.body, options: [.fragmentsAllowed])) != nil {
            out.append(result.body)
        } else {
            out.append(Data(#"null,"payload_error":"Response payload is not valid JSON""#.utf8))
        }
        if !ok {
            out.append(Data(#","error":"#.utf8))
            out.append(jsonString(result.errorMessage ?? "Invalid status code: \(result.status)"))
        }
        out.append(Data("}".utf8))
        return out
    }

    private static func jsonString(_ string: String) -> Data {
        // Encoding a String cannot fail.
        (try? JSONEncoder().encode(string)) ?? Data("\"\"".utf8)
    }
}

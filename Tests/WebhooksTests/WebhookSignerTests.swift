import Crypto
import Foundation
import Testing
import Webhooks

/// Verifies a delivery the way a receiver would: only from the published JWKS JSON and the
/// received headers and body, with none of the signer's code.
private func verify(jwksJSON: Data, headers: [String: String], body: Data) throws -> Bool {
    let document = try #require(try JSONSerialization.jsonObject(with: jwksJSON) as? [String: Any])
    let keys = try #require(document["keys"] as? [[String: Any]])
    let key = try #require(keys.first)
    #expect(key["kty"] as? String == "OKP")
    #expect(key["crv"] as? String == "Ed25519")
    #expect(key["alg"] as? String == "EdDSA")
    #expect(key["use"] as? String == "sig")
    #expect(key["kid"] is String)
    var x = try #require(key["x"] as? String)
    #expect(!x.contains("=") && !x.contains("+") && !x.contains("/"))
    x = x.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    x += String(repeating: "=", count: (4 - x.count % 4) % 4)
    let publicKey = try Curve25519.Signing.PublicKey(rawRepresentation: try #require(Data(base64Encoded: x)))

    let requestID = try #require(headers["x-fal-webhook-request-id"])
    let userID = try #require(headers["x-fal-webhook-user-id"])
    let timestamp = try #require(headers["x-fal-webhook-timestamp"])
    let signatureHex = try #require(headers["x-fal-webhook-signature"])
    let bodyHash = SHA256.hash(data: body).map { String(format: "%02x", $0) }.joined()
    let message = Data("\(requestID)\n\(userID)\n\(timestamp)\n\(bodyHash)".utf8)
    var signature = Data()
    var index = signatureHex.startIndex
    while index < signatureHex.endIndex {
        let next = signatureHex.index(index, offsetBy: 2)
        signature.append(try #require(UInt8(signatureHex[index..<next], radix: 16)))
        index = next
    }
    return publicKey.isValidSignature(signature, for: message)
}

@Suite("WebhookSigner")
struct WebhookSignerTests {
    @Test func signatureVerifiesWithTheJWKS() throws {
        let signer = WebhookSigner(privateKey: Curve25519.Signing.PrivateKey())
        let body = Data(#"{"request_id":"r1","status":"OK","payload":{"a":1}}"#.utf8)
        var headers: [String: String] = [:]
        for (name, value) in try signer.headers(requestID: "r1", userID: "pk_u", timestamp: 1_800_000_123, body: body) {
            headers[name.lowercased()] = value
        }
        #expect(headers["x-fal-webhook-timestamp"] == "1800000123")
        #expect(headers["x-fal-webhook-signature"]?.count == 128)
        let jwks = signer.jwks.jsonData()
        #expect(try verify(jwksJSON: jwks, headers: headers, body: body))
        // Any change to what is signed breaks it.
        #expect(try verify(jwksJSON: jwks, headers: headers, body: body + Data(" ".utf8)) == false)
        var forged = headers
        forged["x-fal-webhook-user-id"] = "pk_other"
        #expect(try verify(jwksJSON: jwks, headers: forged, body: body) == false)
        forged = headers
        forged["x-fal-webhook-timestamp"] = "1800000124"
        #expect(try verify(jwksJSON: jwks, headers: forged, body: body) == false)
        // A different key's JWKS does not verify it.
        let other = WebhookSigner(privateKey: Curve25519.Signing.PrivateKey()).jwks.jsonData()
        #expect(try verify(jwksJSON: other, headers: headers, body: body) == false)
    }

    @Test func jwkRoundTripsThePublicKey() throws {
        let signer = WebhookSigner(privateKey: Curve25519.Signing.PrivateKey())
        let decoded = try JSONDecoder().decode(JWKS.self, from: signer.jwks.jsonData())
        #expect(decoded == signer.jwks)
        #expect(try decoded.keys[0].publicKey().rawRepresentation == signer.privateKey.publicKey.rawRepresentation)
        #expect(decoded.keys[0].kid == signer.keyID)
    }

    @Test func keyIsCreatedOnceWithPrivatePermissions() throws {
        let directory = try temporaryDirectory("peregrine-keys") + "/nested"
        let first = try WebhookSigner.loadOrCreate(directory: directory)
        let path = directory + "/" + WebhookSigner.defaultKeyFileName
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect((attributes[.size] as? NSNumber)?.intValue == 32)
        let second = try WebhookSigner.loadOrCreate(directory: directory)
        #expect(second.keyID == first.keyID)
        #expect(second.privateKey.rawRepresentation == first.privateKey.rawRepresentation)
        // No temporary files are left next to it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == [WebhookSigner.defaultKeyFileName])
    }

    @Test func malformedKeyFileIsAnError() throws {
        let directory = try temporaryDirectory("peregrine-keys")
        try Data("short".utf8).write(to: URL(fileURLWithPath: directory + "/" + WebhookSigner.defaultKeyFileName))
        #expect(throws: WebhookKeyError.self) { _ = try WebhookSigner.loadOrCreate(directory: directory) }
    }

    @Test func retryScheduleSpansAboutTwoHours() {
        let policy = WebhookRetryPolicy()
        let delays = (1..<policy.maxAttempts).compactMap { policy.delay(afterFailedAttempts: $0) }
        #expect(delays.count == 9)
        #expect(delays == [15, 30, 60, 120, 240, 480, 960, 1920, 3600])
        let total = delays.reduce(0, +)
        #expect(total > 1.5 * 3600 && total < 2.5 * 3600)
        #expect(policy.delay(afterFailedAttempts: 10) == nil)
        #expect(policy.delay(afterFailedAttempts: 0) == nil)
    }
}

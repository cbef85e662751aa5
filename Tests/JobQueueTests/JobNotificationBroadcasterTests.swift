import Foundation
import JobQueue
import Testing
import TestSupport

@Suite("JobNotificationBroadcaster")
struct JobNotificationBroadcasterTests {
    @Test func everySubscriberGetsEveryNotification() async {
        let broadcaster = JobNotificationBroadcaster()
        let streams = (0..<3).map { _ in broadcaster.subscribe() }
        broadcaster.publish([.enqueued(endpointID: "a/b"), .changed(id: "1"), .webhookPending])
        for stream in streams {
            let seen = await collect(stream) { $0.count == 3 }
            #expect(seen == [.enqueued(endpointID: "a/b"), .changed(id: "1"), .webhookPending])
        }
    }

    @Test func aSlowSubscriberNeverBlocksThePublisher() async {
        let broadcaster = JobNotificationBroadcaster(bufferSize: 4)
        let stream = broadcaster.subscribe()
        // Nobody reads while 10,000 notifications are published: publish returns each time and
        // the subscriber keeps only the newest ones.
        for i in 0..<10_000 { broadcaster.publish([.changed(id: "\(i)")]) }
        let seen = await collect(stream) { $0.count == 4 }
        #expect(seen == (9996..<10_000).map { .changed(id: "\($0)") })
    }

    @Test func finishedStreamsAreRemoved() async {
        let broadcaster = JobNotificationBroadcaster()
        do {
            let dropped = broadcaster.subscribe()
            _ = dropped
            #expect(broadcaster.subscriberCount == 1)
        }
        #expect(await waitUntil { broadcaster.subscriberCount == 0 })

        let stream = broadcaster.subscribe()
        let reader = Task {
            for await _ in stream {}
        }
        #expect(broadcaster.subscriberCount == 1)
        reader.cancel()
        await reader.value
        #expect(await waitUntil { broadcaster.subscriberCount == 0 })
        broadcaster.publish([.webhookPending])
    }
}

use super::*;

fn hub(ring_size: usize, send_queue: usize) -> Hub {
    Hub::new(&Config {
        ring_size,
        send_queue,
        max_message_size: 16,
        max_topics: 2,
        ..Config::default()
    })
}

fn seqs(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            Event::Message(m) => m.seq.to_string(),
            Event::Gap {
                first_missing,
                first_available,
            } => format!("gap {first_missing}..{first_available}"),
        })
        .collect()
}

fn drain(sub: &mut Subscription) -> Vec<Event> {
    std::iter::from_fn(|| sub.try_next()).collect()
}

#[test]
fn sequence_numbers_start_at_one_per_topic() {
    let hub = hub(4, 4);
    assert_eq!(hub.publish("a", Bytes::from("x")).unwrap().seq, 1);
    assert_eq!(hub.publish("a", Bytes::from("x")).unwrap().seq, 2);
    assert_eq!(hub.publish("b", Bytes::from("x")).unwrap().seq, 1);
}

#[test]
fn bad_publishes_are_refused_with_their_reason() {
    let hub = hub(4, 4);
    assert_eq!(hub.publish("a", Bytes::new()).unwrap_err(), HubError::Empty);
    assert_eq!(
        hub.publish("a", Bytes::from(vec![b'x'; 17])).unwrap_err(),
        HubError::TooLarge { len: 17, max: 16 }
    );
    assert_eq!(
        hub.publish("a", Bytes::from_static(b"\xff")).unwrap_err(),
        HubError::NotUtf8
    );
    assert!(matches!(
        hub.publish("a b", Bytes::from("x")),
        Err(HubError::BadTopic(_))
    ));
    hub.publish("a", Bytes::from("x")).unwrap();
    hub.publish("b", Bytes::from("x")).unwrap();
    assert_eq!(
        hub.publish("c", Bytes::from("x")).unwrap_err(),
        HubError::TooManyTopics(2)
    );
    let ahead = hub.subscribe("a", Start::After(5)).unwrap_err();
    assert_eq!(ahead, HubError::AfterAhead { after: 5, last: 1 });
    // Raw TCP sends the message as its error frame's reason; clients recognise it by this.
    assert!(ahead
        .to_string()
        .contains(pushbench_wire::raw_tcp::AFTER_AHEAD));
}

#[test]
fn resume_reads_the_ring_then_live_and_reports_what_it_dropped() {
    let hub = hub(3, 8);
    for _ in 0..5 {
        hub.publish("t", Bytes::from("x")).unwrap();
    }
    // The ring holds 3, 4, 5.
    assert_eq!(seqs(&hub.poll("t", 3).unwrap()), ["4", "5"]);
    assert_eq!(seqs(&hub.poll("t", 2).unwrap()), ["3", "4", "5"]);
    assert_eq!(
        seqs(&hub.poll("t", 0).unwrap()),
        ["gap 1..3", "3", "4", "5"]
    );
    let mut sub = hub.subscribe("t", Start::After(4)).unwrap();
    let mut live = hub.subscribe("t", Start::Live).unwrap();
    hub.publish("t", Bytes::from("x")).unwrap();
    assert_eq!(seqs(&drain(&mut sub)), ["5", "6"]);
    assert_eq!(seqs(&drain(&mut live)), ["6"]);
}

#[test]
fn a_subscriber_that_falls_behind_resumes_from_the_ring_or_gets_a_gap() {
    let hub = hub(6, 2);
    let mut slow = hub.subscribe("t", Start::Live).unwrap();
    for _ in 0..5 {
        hub.publish("t", Bytes::from("x")).unwrap();
    }
    // Fell 5 behind a queue of 2; the ring of 6 still holds everything.
    assert_eq!(seqs(&drain(&mut slow)), ["1", "2", "3", "4", "5"]);
    for _ in 0..10 {
        hub.publish("t", Bytes::from("x")).unwrap();
    }
    // The ring now holds 10..=15: 6..=9 are gone and the subscriber is told so.
    assert_eq!(
        seqs(&drain(&mut slow)),
        ["gap 6..10", "10", "11", "12", "13", "14", "15"]
    );
}

#[test]
fn idle_unheld_topics_expire_and_start_afresh() {
    let hub = hub(4, 4);
    let ttl = std::time::Duration::from_secs(60);
    hub.publish("a", Bytes::from("x")).unwrap();
    hub.publish("b", Bytes::from("x")).unwrap();
    let held = hub.subscribe("b", Start::Live).unwrap();
    assert_eq!(hub.expire_idle_at(59_000, ttl), 0, "not idle long enough");
    // "a" is idle and unheld; "b" is idle but has a subscriber.
    assert_eq!(hub.expire_idle_at(120_000, ttl), 1);
    assert_eq!(hub.topic_count(), 1);
    drop(held);
    assert_eq!(hub.expire_idle_at(120_000, ttl), 1);
    // A forgotten topic starts again at 1, and an old resume point is refused, not guessed.
    assert_eq!(
        hub.subscribe("a", Start::After(1)).unwrap_err(),
        HubError::AfterAhead { after: 1, last: 0 }
    );
    assert_eq!(hub.publish("a", Bytes::from("x")).unwrap().seq, 1);
}

#[test]
fn each_framing_is_encoded_once_whatever_the_number_of_subscribers() {
    let encodes_with = |subscribers: usize| {
        let hub = hub(4, 4);
        let mut subs: Vec<_> = (0..subscribers)
            .map(|_| hub.subscribe("t", Start::Live).unwrap())
            .collect();
        hub.publish("t", Bytes::from("hello")).unwrap();
        let mut first: Option<Arc<Message>> = None;
        for sub in &mut subs {
            let Some(Event::Message(m)) = sub.try_next() else {
                panic!("every subscriber gets the message")
            };
            let sse = m.framed(Framing::Sse).clone();
            m.framed(Framing::RawTcpBinary);
            m.framed(Framing::WebSocketText);
            if let Some(f) = &first {
                // The very same allocation, not an equal copy.
                assert_eq!(f.framed(Framing::Sse).as_ptr(), sse.as_ptr());
            }
            first.get_or_insert(m);
        }
        first.unwrap().encode_count()
    };
    // text envelope, SSE event, binary envelope, raw TCP frame, WebSocket text frame.
    assert_eq!(encodes_with(1), 5);
    assert_eq!(encodes_with(1000), 5);
}

#[test]
fn memory_counts_each_encoding_once_and_is_given_back_with_the_message() {
    let hub = Hub::new(&Config {
        ring_size: 2,
        max_memory: 10_000,
        ..Config::default()
    });
    let m = hub.publish("a", Bytes::from("x".repeat(100))).unwrap();
    assert_eq!(hub.memory(), (100, 10_000));
    // Every framing, each asked for twice and counted once.
    let framings = [
        Framing::XhrStream,
        Framing::Iframe,
        Framing::Sse,
        Framing::RawTcpText,
        Framing::RawTcpBinary,
        Framing::WebSocketText,
        Framing::WebSocketBinary,
    ];
    let mut expected = 100 + m.envelope(Encoding::Text).len() + m.envelope(Encoding::Binary).len();
    for f in framings {
        expected += m.framed(f).len();
        m.framed(f);
    }
    assert_eq!(hub.memory().0, expected as u64);
    // Pushed out of the ring, it is still held while anyone has it, and freed after.
    hub.publish("a", Bytes::from("y")).unwrap();
    hub.publish("a", Bytes::from("z")).unwrap();
    assert_eq!(hub.memory().0, expected as u64 + 2);
    drop(m);
    assert_eq!(hub.memory().0, 2);
}

#[test]
fn a_publish_past_the_memory_budget_is_refused() {
    let hub = Hub::new(&Config {
        ring_size: 100,
        max_message_size: 400,
        max_memory: 1_000,
        ..Config::default()
    });
    for _ in 0..2 {
        hub.publish("a", Bytes::from("x".repeat(400))).unwrap();
    }
    assert_eq!(
        hub.publish("a", Bytes::from("x".repeat(400))).unwrap_err(),
        HubError::MemoryFull {
            used: 800,
            budget: 1_000
        }
    );
    // A smaller one still fits.
    hub.publish("a", Bytes::from("x".repeat(200))).unwrap();
}

#[test]
fn a_full_ring_may_always_replace_its_oldest_message() {
    let hub = Hub::new(&Config {
        ring_size: 2,
        max_message_size: 400,
        max_memory: 800,
        ..Config::default()
    });
    // The budget is full with two messages, and stays usable: each publish gives one back.
    for _ in 0..10 {
        hub.publish("a", Bytes::from("x".repeat(400))).unwrap();
    }
    assert_eq!(hub.memory().0, 800);
    // Another topic has nothing to give back.
    assert!(matches!(
        hub.publish("b", Bytes::from("y")),
        Err(HubError::MemoryFull { .. })
    ));
}

/// Records the sequence numbers offered to it.
#[derive(Debug, Default)]
struct Recorder(Mutex<Vec<u64>>);

impl Direct for Recorder {
    fn offer(&self, message: &Arc<Message>) {
        self.0.lock().unwrap().push(message.seq);
    }
}

#[test]
fn a_held_poll_is_offered_the_next_message_only_or_answered_from_the_ring() {
    let hub = hub(4, 4);
    hub.publish("a", Bytes::from("x")).unwrap();
    let recorder = Arc::new(Recorder::default());
    let sink: Arc<dyn Direct> = recorder.clone();
    // Something after `after`: answered now, nothing held.
    let mut armed = None;
    match hub.hold("a", Some(0), &sink, |a| armed = Some(a)).unwrap() {
        Held::Ready(events) => assert_eq!(seqs(&events), ["1"]),
        Held::Waiting(_) => panic!("the ring had message 1"),
    }
    assert_eq!(armed, None);
    // Nothing yet (live, and after the last): held, armed after the last sequence number, and
    // offered the next publish's message only, once.
    for after in [None, Some(1)] {
        let held = hub.hold("a", after, &sink, |a| armed = Some(a)).unwrap();
        assert!(matches!(held, Held::Waiting(_)));
        assert_eq!(armed, Some(1));
    }
    hub.publish("a", Bytes::from("y")).unwrap();
    hub.publish("a", Bytes::from("z")).unwrap();
    assert_eq!(*recorder.0.lock().unwrap(), [2, 2]);
    // Released before a publish: not offered.
    let Held::Waiting(topic) = hub.hold("a", Some(3), &sink, |_| {}).unwrap() else {
        panic!("nothing after 3");
    };
    topic.release(&sink);
    hub.publish("a", Bytes::from("w")).unwrap();
    assert_eq!(*recorder.0.lock().unwrap(), [2, 2]);
    assert!(matches!(
        hub.hold("a", Some(9), &sink, |_| {}),
        Err(HubError::AfterAhead { .. })
    ));
}

//! SSE client: `GET` the profile's SSE path with `accept: text/event-stream`; resumes the way
//! `EventSource` does, with `Last-Event-ID` on reconnects: push-server's ids are sequence
//! numbers, other servers' (Nchan's `time:tag`) are kept as the stream gave them. Like
//! `EventSource`, it waits the `retry:` time the stream announced before reconnecting (the
//! scenario's `reconnect` waits apply until a stream has announced one).

use std::time::Duration;

use bytes::Bytes;
use pushbench_wire::sse::{Event, EventParser};
use pushbench_wire::Transport;

use super::{stream_session, Client, ClientError, Shared, State, StreamParser};
use crate::profile::Framing;

struct Parser {
    inner: EventParser,
    events: Vec<Event>,
    last_id: String,
}

impl StreamParser for Parser {
    fn push(
        &mut self,
        data: &[u8],
        _ends: &[usize],
        out: &mut Vec<Bytes>,
    ) -> Result<(), ClientError> {
        self.inner.push(data, &mut self.events);
        if let Some(e) = self.events.last() {
            if e.last_event_id != self.last_id {
                self.last_id.clone_from(&e.last_event_id);
            }
        }
        // Both `message` and `gap` events carry an envelope; the envelope says which it is.
        out.extend(self.events.drain(..).map(|e| Bytes::from(e.data)));
        Ok(())
    }

    fn resume_id(&self) -> Option<&str> {
        (!self.last_id.is_empty()).then_some(self.last_id.as_str())
    }

    fn retry(&self) -> Option<Duration> {
        self.inner.retry().map(Duration::from_millis)
    }
}

/// One event stream.
pub async fn session(shared: &Shared, client: &Client, st: &mut State) -> Result<(), ClientError> {
    if shared.profile.framing == Framing::Envelope {
        // push-server's event ids are the sequence numbers: resume from the highest seen.
        let after = st.resume_after();
        if after > 0 {
            let id = after.to_string();
            st.advance_cursor(Some(&id), None);
        }
    }
    let parser = Parser {
        inner: EventParser::new(),
        events: Vec::new(),
        last_id: String::new(),
    };
    stream_session(shared, st, Transport::Sse, &client.topic, parser).await
}
